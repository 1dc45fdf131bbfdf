package ctl

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/kafkatopics"
)

// topicCheckDial bounds each broker dial of the topic check: a warning is
// not worth a long wait.
const topicCheckDial = 7500 * time.Millisecond

// WarnMissingTopics writes a warning to w for each of topics that does not
// exist in k's cluster, and one when Kafka cannot be asked. Only a warning:
// brokers that create topics on first use will create them, and a config
// may name a topic before it is created.
func WarnMissingTopics(k conf.Kafka, topics []string, w io.Writer) {
	k.SetDefaults("logctl") // settings from flags have none yet
	parts, err := kafkatopics.Partitions(k, topics, topicCheckDial)
	if err != nil {
		fmt.Fprintf(w, "warning: could not check that the topics exist: %v\n", err)
		return
	}
	var missing []string
	for _, t := range topics {
		if parts[t] == 0 {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "warning: topic %s does not exist in Kafka %v: the agent's sends to it fail (logctl status: send-errors) until it is created, unless the brokers create topics on first use\n",
			strings.Join(missing, ", "), k.Brokers)
	}
}
