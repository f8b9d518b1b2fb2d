package httpapi

import (
	"net/http"

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

// answer is what a client is told for a callee's failure: the HTTP status,
// the problem type and its detail. The detail is shopmesh's own stable,
// public text for the type, never the callee's message, which can carry a
// dependency's words (a dial error with a private address, the payment
// provider's text); that message goes to the gateway's access log, under
// the request's trace id (peerDetailKey).
type answer struct {
	status int
	typ    string
	detail string
}

// problems is the one table from gRPC codes to HTTP answers. A code not
// listed is a 500 "internal".
var problems = map[codes.Code]answer{
	codes.InvalidArgument:    {http.StatusBadRequest, "invalid_argument", "the request is not valid"},
	codes.NotFound:           {http.StatusNotFound, "not_found", "no such resource"},
	codes.AlreadyExists:      {http.StatusConflict, "already_exists", "it exists already, with other contents"},
	codes.FailedPrecondition: {http.StatusConflict, "failed_precondition", "not possible in the resource's current state"},
	codes.Aborted:            {http.StatusConflict, "conflict", "another request changed the resource at the same time: retry"},
	codes.PermissionDenied:   {http.StatusForbidden, "forbidden", "not allowed"},
	codes.Unauthenticated:    {http.StatusUnauthorized, "unauthenticated", "not authenticated"},
	codes.ResourceExhausted:  {http.StatusTooManyRequests, "rate_limited", "too many requests: retry after Retry-After seconds"},
	codes.DeadlineExceeded: {http.StatusGatewayTimeout, "timeout",
		"the outcome is unknown (the request's time ran out, or a dependency failed when it may have taken effect): repeat it, with the same Idempotency-Key if it had one, to learn it"},
	codes.Unavailable: unavailable,
	codes.Canceled:    unavailable,
}

// unavailable is the answer for a callee that could not serve: nothing was
// done (outcome turns what may have been done into a 504 first).
var unavailable = answer{http.StatusServiceUnavailable, "unavailable",
	"shopmesh cannot serve this now and nothing was done: retry after Retry-After seconds"}

// internalAnswer is the answer for every other code and for errors that
// are no gRPC status at all.
var internalAnswer = answer{http.StatusInternalServerError, "internal", "internal error"}

// reasons refines a callee's answer by its ErrorInfo reason (the type is
// the reason in lower case): an order that ended unsuccessfully.
var reasons = map[string]answer{
	api.ReasonOutOfStock: {http.StatusConflict, "out_of_stock",
		"an item is out of stock: the order was rejected and nothing was charged"},
	api.ReasonPaymentDeclined: {http.StatusPaymentRequired, "payment_declined",
		"the payment was declined: nothing was charged and the stock went back"},
	// The provider refused the payment details themselves: the request
	// cannot succeed as it is (another token might).
	api.ReasonPaymentFailed: {http.StatusUnprocessableEntity, "payment_failed",
		"the payment provider refused the payment details: nothing was charged and the stock went back"},
	api.ReasonMixedCurrency: {http.StatusUnprocessableEntity, "mixed_currency",
		"the items are priced in different currencies: order them separately"},
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
	return status.Errorf(codes.DeadlineExceeded,
		"the call failed after it may have taken effect (%s), so the outcome is unknown", status.Convert(err).Message())
}

// writeProblem answers with the problem for a gRPC error: the answer of its
// code or reason, with shopmesh's public text. The callee's message is
// kept for the access log (peerDetailKey).
func writeProblem(c *gin.Context, err error) {
	st := status.Convert(err)
	a, ok := problems[st.Code()]
	if !ok {
		a = internalAnswer
	}
	c.Set(peerDetailKey, st.Message())
	orderID := ""
	var fields []FieldError
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetReason() == overload.Reason {
				markRefused(c)
			}
			if r, ok := reasons[d.GetReason()]; ok {
				a = r
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
		a = answer{http.StatusUnprocessableEntity, "validation_failed", validationDetail}
	}
	writeProblemBody(c, a.status, a.typ, a.detail, orderID, fields)
}

// validationDetail is the detail of every 422 that lists the wrong fields.
const validationDetail = "the request is invalid: see errors"

// peerDetailKey holds, for the access log, the message of the callee's
// failure a request was answered for.
const peerDetailKey = "shopmesh.peer_detail"

// abortValidation answers 422 with the fields that are wrong.
func abortValidation(c *gin.Context, fields []FieldError) {
	writeProblemBody(c, http.StatusUnprocessableEntity, "validation_failed", validationDetail, "", fields)
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
