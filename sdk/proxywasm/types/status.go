package types

import "strconv"

// Status is proxy_status_t, the result code of every host function.
type Status uint32

const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusParseFailure         Status = 4
	StatusBadExpression        Status = 5
	StatusInvalidMemoryAccess  Status = 6
	StatusEmpty                Status = 7
	StatusCasMismatch          Status = 8
	StatusResultMismatch       Status = 9
	StatusInternalFailure      Status = 10
	StatusBrokenConnection     Status = 11
	StatusUnimplemented        Status = 12
)

var statusNames = [...]string{
	StatusOK:                   "ok",
	StatusNotFound:             "not found",
	StatusBadArgument:          "bad argument",
	StatusSerializationFailure: "serialization failure",
	StatusParseFailure:         "parse failure",
	StatusBadExpression:        "bad expression",
	StatusInvalidMemoryAccess:  "invalid memory access",
	StatusEmpty:                "empty",
	StatusCasMismatch:          "cas mismatch",
	StatusResultMismatch:       "result mismatch",
	StatusInternalFailure:      "internal failure",
	StatusBrokenConnection:     "broken connection",
	StatusUnimplemented:        "unimplemented",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status " + strconv.FormatUint(uint64(s), 10)
}

// StatusError is the error a host function call returns when the host
// answers with a status other than OK. Op names the host function
// (e.g. "proxy_get_header_map_value").
//
// Compare with the ErrorStatus* values using errors.Is: a StatusError
// matches the sentinel of the same Status whatever its Op.
type StatusError struct {
	Op     string
	Status Status
}

func (e *StatusError) Error() string {
	if e.Op == "" {
		return "proxy-wasm: " + e.Status.String()
	}
	return e.Op + ": " + e.Status.String()
}

// Is reports whether target is a StatusError sentinel (no Op) of the same
// status, so errors.Is(err, ErrorStatusNotFound) works for any operation.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Op == "" && t.Status == e.Status
}

// Sentinel errors, one per non-OK status. They are never returned as is:
// host calls return a *StatusError naming the operation, which matches
// these with errors.Is.
var (
	ErrorStatusNotFound             error = &StatusError{Status: StatusNotFound}
	ErrorStatusBadArgument          error = &StatusError{Status: StatusBadArgument}
	ErrorStatusSerializationFailure error = &StatusError{Status: StatusSerializationFailure}
	ErrorStatusParseFailure         error = &StatusError{Status: StatusParseFailure}
	ErrorStatusBadExpression        error = &StatusError{Status: StatusBadExpression}
	ErrorStatusInvalidMemoryAccess  error = &StatusError{Status: StatusInvalidMemoryAccess}
	ErrorStatusEmpty                error = &StatusError{Status: StatusEmpty}
	ErrorStatusCasMismatch          error = &StatusError{Status: StatusCasMismatch}
	ErrorStatusResultMismatch       error = &StatusError{Status: StatusResultMismatch}
	ErrorStatusInternalFailure      error = &StatusError{Status: StatusInternalFailure}
	ErrorStatusBrokenConnection     error = &StatusError{Status: StatusBrokenConnection}
	ErrorStatusUnimplemented        error = &StatusError{Status: StatusUnimplemented}
)

// StatusToError maps a host status to nil (OK) or a *StatusError for op.
func StatusToError(op string, s Status) error {
	if s == StatusOK {
		return nil
	}
	return &StatusError{Op: op, Status: s}
}
