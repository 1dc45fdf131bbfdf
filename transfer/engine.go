package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/olivere/elastic/v7"
)

// EngineInfo is what the engine says about itself (GET /).
type EngineInfo struct {
	ClusterName string `json:"cluster_name"`
	Version     struct {
		Number       string `json:"number"`
		Distribution string `json:"distribution"` // "opensearch" there, unset in Elasticsearch
	} `json:"version"`
}

// Info asks the engine for its cluster info with the transfer's URLs, TLS
// and credentials, changing nothing: what logtransfer -check -connect
// shows. Elasticsearch needs the credentials for it; ZincSearch does not.
func (e *Elastic) Info(ctx context.Context) (EngineInfo, error) {
	var info EngineInfo
	res, err := e.client.PerformRequest(ctx, elastic.PerformRequestOptions{Method: http.MethodGet, Path: "/"})
	if err != nil {
		return info, fmt.Errorf("cluster info: %w", err)
	}
	if err := json.Unmarshal(res.Body, &info); err != nil {
		return info, fmt.Errorf("decode cluster info: %w", err)
	}
	return info, nil
}

// TemplateInstalled reports whether the index template PutTemplate
// installs for topic is there. It reads it, so it needs the credentials
// and the template privilege the transfer needs at start.
func (e *Elastic) TemplateInstalled(ctx context.Context, topic string) (bool, error) {
	_, err := e.client.IndexGetIndexTemplate(templateName(topic)).Do(ctx)
	switch {
	case elastic.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read index template %s: %w", templateName(topic), err)
	}
	return true, nil
}

// templateName names the index template of a topic's indices.
func templateName(topic string) string { return "logtransfer-" + topic }
