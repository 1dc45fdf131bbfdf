package preflight

import (
	"fmt"
	"strings"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/kafkatopics"
)

// kafka checks the brokers and that topics exist. known false means the
// topics could not be learnt (etcd unreachable): only the brokers are
// checked.
func (r *report) kafka(k conf.Kafka, topics []string, known bool) {
	where := describeKafka(k)
	parts, err := kafkatopics.Partitions(k, topics, serviceTimeout/2)
	if err != nil {
		r.fail("kafka", fmt.Errorf("%s: %w", where, err))
		return
	}
	var found, missing []string
	for _, t := range topics {
		if parts[t] == 0 {
			missing = append(missing, t)
		} else {
			found = append(found, fmt.Sprintf("%s (%d partitions)", t, parts[t]))
		}
	}
	switch {
	case !known:
		r.ok("kafka", "%s: metadata read; topics not checked (the collect config was not read)", where)
	case len(topics) == 0:
		r.ok("kafka", "%s: metadata read; no topics to check", where)
	case len(missing) > 0:
		r.warn("kafka", "%s: topics %s do not exist: sends to them fail until they are created, unless the brokers create topics on first use; found: %s",
			where, strings.Join(missing, ", "), orNone(found))
	default:
		r.ok("kafka", "%s: topics %s", where, orNone(found))
	}
}

func describeKafka(k conf.Kafka) string {
	var how []string
	if k.TLS.Enabled {
		how = append(how, "TLS")
	}
	if k.SASL.Mechanism != "" {
		how = append(how, fmt.Sprintf("SASL %s as %s", k.SASL.Mechanism, k.SASL.Username))
	}
	s := strings.Join(k.Brokers, ",")
	if len(how) > 0 {
		s += " (" + strings.Join(how, ", ") + ")"
	}
	return s
}

func orNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
