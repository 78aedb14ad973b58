package proxywasm

import (
	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// GRPCStatusNone is the grpcStatus argument of SendHttpResponse for a
// plain HTTP (non-gRPC) response.
const GRPCStatusNone int32 = -1

// SendHttpResponse answers the active stream locally, instead of (or in
// place of) the upstream response. Return ActionPause from the running
// callback afterwards so the host does not forward the request.
func SendHttpResponse(statusCode uint32, headers [][2]string, body []byte, grpcStatus int32) error {
	in := getInput()
	in.b = abi.AppendMap(in.b, headers)
	st := host().SendLocalResponse(statusCode, "", body, in.b, grpcStatus)
	in.put()
	return statusErr("proxy_send_local_response", st)
}

// ResumeHttpRequest resumes a request paused by ActionPause.
func ResumeHttpRequest() error { return continueStream(types.StreamTypeHttpRequest) }

// ResumeHttpResponse resumes a response paused by ActionPause.
func ResumeHttpResponse() error { return continueStream(types.StreamTypeHttpResponse) }

// CloseHttpRequest resets the request side of the active stream.
func CloseHttpRequest() error { return closeStream(types.StreamTypeHttpRequest) }

// CloseHttpResponse resets the response side of the active stream.
func CloseHttpResponse() error { return closeStream(types.StreamTypeHttpResponse) }

// ResumeDownstream resumes downstream data paused by ActionPause.
func ResumeDownstream() error { return continueStream(types.StreamTypeDownstream) }

// ResumeUpstream resumes upstream data paused by ActionPause.
func ResumeUpstream() error { return continueStream(types.StreamTypeUpstream) }

// CloseDownstream closes the downstream connection.
func CloseDownstream() error { return closeStream(types.StreamTypeDownstream) }

// CloseUpstream closes the upstream connection.
func CloseUpstream() error { return closeStream(types.StreamTypeUpstream) }

func continueStream(st types.StreamType) error {
	return statusErr("proxy_continue_stream", host().ContinueStream(st))
}

func closeStream(st types.StreamType) error {
	return statusErr("proxy_close_stream", host().CloseStream(st))
}
