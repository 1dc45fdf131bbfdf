package conf

import (
	"fmt"
	"os"
	"strings"
)

// Secret is a credential taken from the config file. It is written as
// "env:NAME" (read from an environment variable), "file:/path" (read from a
// file, trailing newline removed) or a literal value. It never prints its value,
// so a Secret can be logged or dumped with %v safely.
type Secret string

// Resolve returns the secret's value.
func (s Secret) Resolve() (string, error) {
	v := string(s)
	switch {
	case strings.HasPrefix(v, "env:"):
		name := strings.TrimPrefix(v, "env:")
		val, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return val, nil
	case strings.HasPrefix(v, "file:"):
		b, err := os.ReadFile(strings.TrimPrefix(v, "file:"))
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	default:
		return v, nil
	}
}

// String redacts the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// GoString redacts the value for %#v too.
func (s Secret) GoString() string { return s.String() }
