package zincenv

import (
	"slices"
	"testing"
)

func TestEnvDropsStraySettingsAndExtraWins(t *testing.T) {
	t.Setenv("ZINC_DATA_PATH", "/elsewhere")
	t.Setenv("GIN_MODE", "debug")
	t.Setenv("ZINC_LOG_LEVEL", "debug")
	env := Env(Server{Port: 4080, DataDir: "/data", User: "u", Password: "p", Extra: []string{"ZINC_MAX_RESULTS=5"}})
	for _, bad := range []string{"ZINC_DATA_PATH=/elsewhere", "GIN_MODE=debug"} {
		if slices.Contains(env, bad) {
			t.Errorf("%s passed through", bad)
		}
	}
	for _, want := range []string{"ZINC_LOG_LEVEL=debug", "ZINC_DATA_PATH=/data", "ZINC_SERVER_PORT=4080", "ZINC_FIRST_ADMIN_PASSWORD=p"} {
		if !slices.Contains(env, want) {
			t.Errorf("%s missing", want)
		}
	}
	if env[len(env)-1] != "ZINC_MAX_RESULTS=5" {
		t.Errorf("extra settings must come last (exec uses the last of duplicates): %v", env[len(env)-3:])
	}
}
