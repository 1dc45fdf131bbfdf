//go:build e2e

package agent_test

import (
	"testing"

	"github.com/logagent/logagent/internal/testenv"
)

// TestMain removes the daemons testenv.Build compiled.
func TestMain(m *testing.M) { testenv.Main(m) }
