package transfer

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestClassifyItem(t *testing.T) {
	cases := []struct {
		item ItemResult
		want Outcome
	}{
		{ItemResult{Status: 201}, OutcomeIndexed},
		{ItemResult{Status: 200}, OutcomeIndexed},
		{ItemResult{Status: 0}, OutcomeMissing},
		{ItemResult{Type: "bulk_aborted", Reason: "field [x] …"}, OutcomeMissing},
		// Document-level: dead-lettered.
		{ItemResult{Status: 400, Type: "mapper_parsing_exception"}, OutcomeDeadLetter},
		{ItemResult{Status: 400, Type: "document_parsing_exception"}, OutcomeDeadLetter},
		{ItemResult{Status: 400, Type: "strict_dynamic_mapping_exception"}, OutcomeDeadLetter},
		{ItemResult{Status: 400, Type: "illegal_argument_exception", Reason: "Limit of total fields [1000] has been exceeded"}, OutcomeDeadLetter},
		{ItemResult{Status: 400, Type: "some_future_exception"}, OutcomeDeadLetter},
		{ItemResult{Status: 413}, OutcomeDeadLetter},
		{ItemResult{Status: 500, Type: "mapper_parsing_exception"}, OutcomeDeadLetter}, // the type decides
		// Engine, cluster or index: retried.
		{ItemResult{Status: 429, Type: "es_rejected_execution_exception"}, OutcomeRetry},
		{ItemResult{Status: 429}, OutcomeRetry},
		{ItemResult{Status: 500}, OutcomeRetry},
		{ItemResult{Status: 503, Type: "unavailable_shards_exception"}, OutcomeRetry},
		{ItemResult{Status: 403, Type: "cluster_block_exception"}, OutcomeRetry},
		{ItemResult{Status: 429, Type: "cluster_block_exception"}, OutcomeRetry},
		{ItemResult{Status: 400, Type: "index_closed_exception"}, OutcomeRetry},
		{ItemResult{Status: 404, Type: "index_not_found_exception"}, OutcomeRetry},
		{ItemResult{Status: 400, Type: "illegal_argument_exception", Reason: "no write index is defined for alias [x]"}, OutcomeRetry},
		{ItemResult{Status: 400, Type: "illegal_argument_exception", Reason: "only write ops with an op_type of create are allowed in data streams"}, OutcomeRetry},
		{ItemResult{Status: 403, Type: "security_exception"}, OutcomeRetry},
		{ItemResult{Status: 409, Type: "version_conflict_engine_exception"}, OutcomeRetry},
		{ItemResult{Status: 401}, OutcomeRetry},
		{ItemResult{Status: 418}, OutcomeRetry}, // unknown: retry, never drop
	}
	for _, c := range cases {
		if got := ClassifyItem(c.item); got != c.want {
			t.Errorf("%+v: %v, want %v", c.item, got, c.want)
		}
	}
}

func TestClassifyRequestError(t *testing.T) {
	cases := []struct {
		err      error
		want     RequestFailure
		operator bool
	}{
		{&RequestError{Err: errors.New("dial tcp: connection refused")}, WaitForEngine, false},
		{&RequestError{Status: 503}, WaitForEngine, false},
		{&RequestError{Status: 503, Type: "unavailable_shards_exception"}, RetryRequest, false},
		{&RequestError{Status: 504}, WaitForEngine, false},
		{&RequestError{Status: 429, Type: "circuit_breaking_exception"}, RetryRequest, false},
		{&RequestError{Status: 502}, WaitForEngine, false},
		{&RequestError{Status: 413}, SplitRequest, false},
		{&RequestError{Status: 401, Type: "security_exception"}, RetryRequest, true},
		{&RequestError{Status: 403}, RetryRequest, true},
		{&RequestError{Status: 404}, RetryRequest, true},
		{&RequestError{Status: 400, Type: "illegal_argument_exception"}, RetryRequest, true},
		{&RequestError{Status: 400, Type: "cluster_block_exception"}, RetryRequest, false},
		{fmt.Errorf("bulk: %w", &RequestError{Status: 413}), SplitRequest, false},
		{errors.New("something odd"), RetryRequest, false},
		{fmt.Errorf("bulk request: %w", context.Canceled), Stopped, false},
		{context.DeadlineExceeded, Stopped, false},
	}
	for _, c := range cases {
		f, op := ClassifyRequestError(c.err)
		if f != c.want || op != c.operator {
			t.Errorf("%v: %v operator=%v, want %v operator=%v", c.err, f, op, c.want, c.operator)
		}
	}
}
