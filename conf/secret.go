package conf

import (
	"errors"
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

// Literal reports whether the value is written in the config file itself
// rather than referenced with env: or file:.
func (s Secret) Literal() bool {
	v := string(s)
	return v != "" && !strings.HasPrefix(v, "env:") && !strings.HasPrefix(v, "file:")
}

// Source says where the value comes from without showing it: "env:NAME",
// "file:/path", "literal" or "" when unset.
func (s Secret) Source() string {
	if s.Literal() {
		return "literal"
	}
	return string(s)
}

// NamedSecret is a secret with the config field that holds it, for
// messages.
type NamedSecret struct {
	Field  string
	Secret Secret
}

// ResolveSecrets resolves every set secret, as the daemon will when it
// connects, and reports each one that cannot be (a variable not set, a
// file missing or unreadable) with its field.
func ResolveSecrets(secrets []NamedSecret) error {
	var errs []error
	for _, s := range secrets {
		if s.Secret == "" {
			continue
		}
		if _, err := s.Secret.Resolve(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Field, err))
		}
	}
	return errors.Join(errs...)
}

// CheckSecretExposure refuses secrets that others can read: a config file
// holding a literal secret, or a file: secret, that is readable by its
// group or by others. The daemons run as their own user, so 0600 and that
// owner is enough.
func CheckSecretExposure(configPath string, secrets []NamedSecret) error {
	var errs []error
	var literal []string
	for _, s := range secrets {
		switch {
		case s.Secret.Literal():
			literal = append(literal, s.Field)
		case strings.HasPrefix(string(s.Secret), "file:"):
			if err := notShared(strings.TrimPrefix(string(s.Secret), "file:")); err != nil {
				errs = append(errs, fmt.Errorf("%s: secret file %w: chmod 600 it", s.Field, err))
			}
		}
	}
	if len(literal) > 0 {
		if err := notShared(configPath); err != nil {
			errs = append(errs, fmt.Errorf("%s holds the literal secret of %s: %w: chmod 600 it, or write the secret as \"env:NAME\" or \"file:/path\"",
				configPath, strings.Join(literal, ", "), err))
		}
	}
	return errors.Join(errs...)
}

// notShared reports a file its group or others may read. A file that
// cannot be examined is reported by ResolveSecrets or the loader.
func notShared(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if mode := st.Mode().Perm(); mode&0o044 != 0 {
		return fmt.Errorf("%s is readable by group or others (mode %04o)", path, mode)
	}
	return nil
}

// RedactURL hides the password of a URL or host:port with user
// information ("http://user:pw@host" or "user:pw@host:2379"), the way
// url.URL.Redacted does, for printing endpoints that may carry one.
func RedactURL(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	user, _, hasPassword := strings.Cut(s[start:at], ":")
	if !hasPassword {
		return s
	}
	return s[:start] + user + ":xxxxx" + s[at:]
}

// RedactURLs is RedactURL of each.
func RedactURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = RedactURL(u)
	}
	return out
}
