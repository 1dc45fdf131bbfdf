package transfer

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Outcome is what the transfer does with one document after a bulk answer.
type Outcome int

const (
	// OutcomeIndexed: the engine stored the document.
	OutcomeIndexed Outcome = iota
	// OutcomeRetry: the failure is about the engine, the cluster or the index,
	// not the document; sending it again later can succeed.
	OutcomeRetry
	// OutcomeDeadLetter: the engine refuses this document and will keep
	// refusing it; it goes to the DLQ topic so the rest of the batch moves on.
	OutcomeDeadLetter
	// OutcomeMissing: the engine did not answer for the document. It is
	// retried; one that keeps going missing on its own is dead-lettered.
	OutcomeMissing
)

func (o Outcome) String() string {
	switch o {
	case OutcomeIndexed:
		return "indexed"
	case OutcomeRetry:
		return "retry"
	case OutcomeDeadLetter:
		return "dead_letter"
	case OutcomeMissing:
		return "missing"
	}
	return "unknown"
}

// retryableTypes are error types that say nothing about the document: the
// index is blocked, closed or missing, a shard is unavailable, the node is
// overloaded. They are retried even when their status is a 4xx.
var retryableTypes = map[string]bool{
	"cluster_block_exception":                 true, // read-only index, flood-stage disk watermark
	"index_closed_exception":                  true,
	"index_not_found_exception":               true, // auto-create off: waits for an operator
	"invalid_index_name_exception":            true, // config error: fixed config, restart, re-rendered
	"es_rejected_execution_exception":         true,
	"circuit_breaking_exception":              true,
	"unavailable_shards_exception":            true,
	"no_shard_available_action_exception":     true,
	"primary_missing_action_exception":        true,
	"process_cluster_event_timeout_exception": true,
	"node_not_connected_exception":            true,
	"node_closed_exception":                   true,
	"timeout_exception":                       true,
	"receive_timeout_transport_exception":     true,
	"security_exception":                      true, // credentials or privileges: needs an operator, never the document
	"version_conflict_engine_exception":       true, // not expected with plain index ops
}

// documentTypes are error types about the document itself, whatever status
// they come with.
var documentTypes = map[string]bool{
	"mapper_parsing_exception":          true,
	"document_parsing_exception":        true, // Elasticsearch 8.x name for the same
	"strict_dynamic_mapping_exception":  true,
	"illegal_argument_exception":        true, // e.g. total fields limit, immense term
	"parse_exception":                   true,
	"json_parse_exception":              true,
	"x_content_parse_exception":         true,
	"document_source_missing_exception": true,
	"mapper_exception":                  true,
}

// ClassifyItem decides what happens to a document after its bulk item.
// Known types win over the status; then 2xx is indexed, 400, 413 and 422 are
// about the document, status 0 is missing and everything else (429, 5xx,
// 401/403/404/409, unknown) is retried: when in doubt, retry, never drop.
func ClassifyItem(r ItemResult) Outcome {
	if r.Status == 0 {
		return OutcomeMissing
	}
	if r.Status >= 200 && r.Status < 300 && r.Type == "" {
		return OutcomeIndexed
	}
	if retryableTypes[r.Type] || indexLevelReason(r) {
		return OutcomeRetry
	}
	if documentTypes[r.Type] {
		return OutcomeDeadLetter
	}
	switch r.Status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return OutcomeDeadLetter
	}
	if r.Status >= 200 && r.Status < 300 {
		return OutcomeIndexed // a success with an unknown type field: trust the status
	}
	return OutcomeRetry
}

// indexLevelReason spots the illegal_argument_exceptions that are about the
// target index rather than the document: an alias without a write index, a
// data stream that only takes op_type create.
func indexLevelReason(r ItemResult) bool {
	if r.Type != "illegal_argument_exception" {
		return false
	}
	reason := strings.ToLower(r.Reason)
	return strings.Contains(reason, "write index") || strings.Contains(reason, "data stream")
}

// RequestFailure is what to do after a whole bulk request failed.
type RequestFailure int

const (
	// RetryRequest: send the same documents again after a backoff.
	RetryRequest RequestFailure = iota
	// SplitRequest: the request was too large (HTTP 413); send its halves. A
	// single document too large is dead-lettered.
	SplitRequest
	// Stopped: the context ended; give up without a verdict.
	Stopped
	// WaitForEngine: the engine did not answer (connection refused or
	// reset, timeout, a gateway's 502 or 504, a 503 without an engine's
	// error): probe it until it answers, then send the same documents.
	WaitForEngine
)

// ClassifyRequestError decides what to do after Bulk returned an error, and
// whether the failure needs an operator (authentication, authorization, a
// wrong URL): such failures are still retried, but logged as errors.
func ClassifyRequestError(err error) (f RequestFailure, needsOperator bool) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Stopped, false
	}
	var re *RequestError
	if !errors.As(err, &re) {
		return RetryRequest, false
	}
	switch re.Status {
	case 0, http.StatusBadGateway, http.StatusGatewayTimeout:
		return WaitForEngine, false
	case http.StatusServiceUnavailable:
		if re.Type == "" {
			return WaitForEngine, false
		}
	case http.StatusRequestEntityTooLarge:
		return SplitRequest, false
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		return RetryRequest, !retryableTypes[re.Type] || re.Type == "security_exception"
	}
	return RetryRequest, false
}
