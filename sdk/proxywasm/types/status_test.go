package types

import (
	"errors"
	"fmt"
	"testing"
)

func TestStatusToError(t *testing.T) {
	sentinels := map[Status]error{
		StatusNotFound:             ErrorStatusNotFound,
		StatusBadArgument:          ErrorStatusBadArgument,
		StatusSerializationFailure: ErrorStatusSerializationFailure,
		StatusParseFailure:         ErrorStatusParseFailure,
		StatusBadExpression:        ErrorStatusBadExpression,
		StatusInvalidMemoryAccess:  ErrorStatusInvalidMemoryAccess,
		StatusEmpty:                ErrorStatusEmpty,
		StatusCasMismatch:          ErrorStatusCasMismatch,
		StatusResultMismatch:       ErrorStatusResultMismatch,
		StatusInternalFailure:      ErrorStatusInternalFailure,
		StatusBrokenConnection:     ErrorStatusBrokenConnection,
		StatusUnimplemented:        ErrorStatusUnimplemented,
	}
	if err := StatusToError("op", StatusOK); err != nil {
		t.Fatalf("OK mapped to %v", err)
	}
	for st, sentinel := range sentinels {
		t.Run(st.String(), func(t *testing.T) {
			err := fmt.Errorf("wrapped: %w", StatusToError("proxy_x", st))
			if !errors.Is(err, sentinel) {
				t.Errorf("%v is not %v", err, sentinel)
			}
			for other, s := range sentinels {
				if other != st && errors.Is(err, s) {
					t.Errorf("%v also matches %v", err, s)
				}
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Status != st || se.Op != "proxy_x" {
				t.Errorf("errors.As gave %+v", se)
			}
		})
	}
	if got := StatusToError("proxy_get_property", StatusUnimplemented).Error(); got != "proxy_get_property: unimplemented" {
		t.Errorf("message %q", got)
	}
	if got := Status(99).String(); got != "status 99" {
		t.Errorf("unknown status string %q", got)
	}
}
