package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// Problem is an RFC 9457 problem details body, with the trace id so a user
// can hand support one string that finds every log line of the request.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	TraceID  string `json:"trace_id,omitempty"`
	// OrderID names the order a failed placement created (REJECTED or
	// PAYMENT_DECLINED), so the client can show or fetch it.
	OrderID string `json:"order_id,omitempty"`
	// Errors lists what is wrong with each field of a 422 answer.
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError names one invalid field by its JSON path, e.g.
// "items[0].quantity", and says what it must be.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

const problemBase = "https://shopmesh.dev/problems/"

// retryAfterSeconds is the Retry-After of a 503 and of a 202: long enough
// for a restarting peer or a burst to pass, short enough that a client
// polling an accepted order sees it end soon after it does.
const retryAfterSeconds = "1"

// problems is the one table from gRPC codes to HTTP answers: the status
// and the problem type. A code not listed is a 500 "internal".
var problems = map[codes.Code]struct {
	status int
	typ    string
}{
	codes.InvalidArgument:    {http.StatusBadRequest, "invalid_argument"},
	codes.NotFound:           {http.StatusNotFound, "not_found"},
	codes.AlreadyExists:      {http.StatusConflict, "already_exists"},
	codes.FailedPrecondition: {http.StatusConflict, "failed_precondition"},
	codes.Aborted:            {http.StatusConflict, "conflict"},
	codes.PermissionDenied:   {http.StatusForbidden, "forbidden"},
	codes.Unauthenticated:    {http.StatusUnauthorized, "unauthenticated"},
	codes.ResourceExhausted:  {http.StatusTooManyRequests, "rate_limited"},
	codes.DeadlineExceeded:   {http.StatusGatewayTimeout, "timeout"},
	codes.Unavailable:        {http.StatusServiceUnavailable, "unavailable"},
	codes.Canceled:           {http.StatusServiceUnavailable, "unavailable"},
}

// reasonStatuses refines a callee's code by its ErrorInfo reason.
var reasonStatuses = map[string]int{
	api.ReasonOutOfStock:      http.StatusConflict,
	api.ReasonPaymentDeclined: http.StatusPaymentRequired,
	// The provider refused the payment details themselves: the request
	// cannot succeed as it is (another token might).
	api.ReasonPaymentFailed: http.StatusUnprocessableEntity,
	api.ReasonMixedCurrency: http.StatusUnprocessableEntity,
}

// outcome is what the failure of a call that changes something (placing
// or cancelling an order) tells the client. A 503 promises that nothing was
// done, so only a refusal that says so before any work (the overload
// limit's, reason OVERLOADED) keeps it. Any other UNAVAILABLE, such as a
// connection lost while the callee worked or a database that failed at an
// unknown point, and a CANCELED call may come after the change was made:
// the outcome is unknown (504), and a repeat with the same key learns it.
func outcome(err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unavailable:
		if apperr.ReasonOf(grpcx.FromStatus(err)) == overload.Reason {
			return err
		}
	case codes.Canceled:
	default:
		return err
	}
	return status.Error(codes.DeadlineExceeded,
		"the outcome is unknown: the call failed after it may have taken effect; repeat the request with the same Idempotency-Key to learn it")
}

// writeProblem answers with the problem for a gRPC error. Internal details
// never reach the client; they are in the callee's log under the trace id.
func writeProblem(c *gin.Context, err error) {
	st := status.Convert(err)
	code, typ, detail := http.StatusInternalServerError, "internal", "internal error"
	if p, ok := problems[st.Code()]; ok {
		code, typ, detail = p.status, p.typ, st.Message()
	}
	orderID := ""
	var fields []FieldError
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetReason() == overload.Reason {
				markRefused(c)
			}
			if s, ok := reasonStatuses[d.GetReason()]; ok {
				code, typ = s, strings.ToLower(d.GetReason())
			}
			orderID = d.GetMetadata()["order_id"]
		case *errdetails.BadRequest:
			// A callee that names the fields gets the same 422 as the
			// gateway's own validation.
			for _, v := range d.GetFieldViolations() {
				fields = append(fields, FieldError{Field: v.GetField(), Detail: v.GetDescription()})
			}
		}
	}
	if len(fields) > 0 && st.Code() == codes.InvalidArgument {
		code, typ = http.StatusUnprocessableEntity, "validation_failed"
	}
	writeProblemBody(c, code, typ, detail, orderID, fields)
}

// abortValidation answers 422 with the fields that are wrong.
func abortValidation(c *gin.Context, fields []FieldError) {
	writeProblemBody(c, http.StatusUnprocessableEntity, "validation_failed", "the request is invalid: see errors", "", fields)
}

// abortProblem writes a problem and stops the handler chain.
func abortProblem(c *gin.Context, code int, typ, detail string) {
	writeProblemBody(c, code, typ, detail, "", nil)
}

func writeProblemBody(c *gin.Context, code int, typ, detail, orderID string, fields []FieldError) {
	if code == http.StatusTooManyRequests {
		markRefused(c)
	}
	p := Problem{
		Type: problemBase + typ, Title: http.StatusText(code), Status: code,
		Detail: detail, Instance: c.Request.URL.Path, OrderID: orderID, Errors: fields,
	}
	if sc := trace.SpanContextFromContext(c.Request.Context()); sc.HasTraceID() {
		p.TraceID = sc.TraceID().String()
	}
	// Set before writing: gin's JSON render keeps a Content-Type that is
	// already there.
	c.Header("Content-Type", "application/problem+json")
	if code == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		// A 503 is transient (a peer or its database is down or overloaded,
		// and nothing was done): say when trying again is worth it.
		c.Header("Retry-After", retryAfterSeconds)
	}
	c.AbortWithStatusJSON(code, p)
}

// refusedKey marks a request refused before any work was done: over a
// client's rate, or at capacity here or at a peer.
const refusedKey = "shopmesh.refused"

func markRefused(c *gin.Context) { c.Set(refusedKey, true) }

// refused says whether the request was refused before any work was done.
func refused(c *gin.Context) bool { return c.GetBool(refusedKey) }
