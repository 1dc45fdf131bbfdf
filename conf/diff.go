package conf

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strings"
)

// Changed lists the top-level YAML keys whose values differ between two
// configs of one type (Agent, Transfer), in the file's field order, for a
// reload to say what it applies. Secrets compare by what the file says
// (env:NAME, file:/path or the literal); CredentialDigest tells whether what
// they point at changed.
func Changed[T any](old, next *T) []string {
	a, b := reflect.ValueOf(old).Elem(), reflect.ValueOf(next).Elem()
	var keys []string
	for i := range a.NumField() {
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			keys = append(keys, yamlKey(a.Type().Field(i)))
		}
	}
	return keys
}

func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// CredentialDigest is a digest of what the Kafka connection authenticates
// with: the SASL password's value and the contents of the TLS files. A
// rotated password file or certificate changes it though the config does
// not. It holds no secret.
func (k Kafka) CredentialDigest() (string, error) {
	return credentialDigest(k.TLS, k.SASL.Password)
}

// CredentialDigest is the same for the Elasticsearch connection: the
// password's and API key's values and the contents of the TLS files.
func (e Elasticsearch) CredentialDigest() (string, error) {
	return credentialDigest(e.TLS, e.Password, e.APIKey)
}

func credentialDigest(t TLS, secrets ...Secret) (string, error) {
	h := sha256.New()
	for _, s := range secrets {
		v, err := s.Resolve()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%d:%s", len(v), v)
	}
	for _, path := range []string{t.CAFile, t.CertFile, t.KeyFile} {
		if path == "" {
			fmt.Fprint(h, "-")
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("tls: %w", err)
		}
		fmt.Fprintf(h, "%d:%s", len(b), b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
