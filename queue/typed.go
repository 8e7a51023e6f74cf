package queue

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Args is the type of a typed job's arguments. Its Kind is the name under
// which jobs of the type are added and routed, so that adding (AddArgs)
// and handling (Handle) agree on it without repeating it:
//
//	type Welcome struct{ To string }
//
//	func (Welcome) Kind() string { return "welcome" }
//
// Kind is called on the zero value of the type, and must return the same
// non-empty name every time. The arguments are the job's data, encoded as
// JSON unless the type implements ArgsWithCodec.
type Args interface {
	Kind() string
}

// ArgsWithOptions is an Args type whose jobs have add options of their
// own. A field the caller's AddOptions leave at its zero value takes the
// type's value.
type ArgsWithOptions interface {
	Args
	AddOptions() AddOptions
}

// ArgsWithCodec is an Args type with an encoding of its own, such as
// protocol buffers. Its codec encodes the arguments and a HandleResult
// route's results.
type ArgsWithCodec interface {
	Args
	Codec() Codec
}

// Codec encodes typed jobs' arguments and results to bytes and back.
type Codec interface {
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, a pointer.
	Unmarshal(data []byte, v any) error
}

// jsonCodec is the default Codec. Empty data decodes as JSON null: into
// the zero value.
type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

func (jsonCodec) Unmarshal(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("null")
	}
	return json.Unmarshal(data, v)
}

func kindOf[T Args]() string {
	var zero T
	return zero.Kind()
}

func codecOf[T Args]() Codec {
	var zero T
	if c, ok := any(zero).(ArgsWithCodec); ok {
		if codec := c.Codec(); codec != nil {
			return codec
		}
	}
	return jsonCodec{}
}

// ErrDecode: a job's data does not decode as the arguments of its kind.
// The attempt fails for good, since no retry can make the data decode;
// the failure is a *DecodeError.
var ErrDecode = errors.New("drover: job data does not decode")

// DecodeError reports a job whose data does not decode as the arguments of
// its kind. It matches ErrDecode and ErrUnrecoverable, and unwraps to the
// codec's error.
type DecodeError struct {
	// Kind is the kind whose arguments the data should be.
	Kind string
	// JobID is the job's ID.
	JobID string
	// Err is the codec's error.
	Err error
}

// Error says which job's data did not decode, as what, and why.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("drover: data of job %s does not decode as %s arguments: %v", e.JobID, e.Kind, e.Err)
}

// Unwrap returns the codec's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is ErrDecode or ErrUnrecoverable.
func (e *DecodeError) Is(target error) bool {
	return target == ErrDecode || target == ErrUnrecoverable
}

// encodeArgs returns the job name and data of args, and the add options
// of its type under opts.
func encodeArgs[T Args](args T, opts *AddOptions) (string, []byte, *AddOptions, error) {
	data, err := codecOf[T]().Marshal(args)
	if err != nil {
		return "", nil, nil, &ValidationError{Index: -1, Field: "Data", Reason: fmt.Sprintf("cannot encode %s arguments: %v", kindOf[T](), err), Err: err}
	}
	if d, ok := any(args).(ArgsWithOptions); ok {
		opts = withTypeOptions(d.AddOptions(), opts)
	}
	return kindOf[T](), data, opts, nil
}

// withTypeOptions returns opts with each field left at its zero value
// taken from def.
func withTypeOptions(def AddOptions, opts *AddOptions) *AddOptions {
	if opts == nil {
		return &def
	}
	o := *opts
	o.ID = cmp.Or(o.ID, def.ID)
	o.Delay = cmp.Or(o.Delay, def.Delay)
	o.Priority = cmp.Or(o.Priority, def.Priority)
	o.Attempts = cmp.Or(o.Attempts, def.Attempts)
	o.Backoff = cmp.Or(o.Backoff, def.Backoff)
	o.Timeout = cmp.Or(o.Timeout, def.Timeout)
	o.KeepCompleted = cmp.Or(o.KeepCompleted, def.KeepCompleted)
	o.KeepFailed = cmp.Or(o.KeepFailed, def.KeepFailed)
	return &o
}

// AddArgs adds one job of args' kind, with args encoded as its data, and
// returns it. It is Queue.Add for typed jobs.
func AddArgs[T Args](ctx context.Context, q *Queue, args T, opts *AddOptions) (*Job, error) {
	bj, err := BulkJobOf(args, opts)
	if err != nil {
		return nil, err
	}
	return q.Add(ctx, bj.Name, bj.Data, bj.Options)
}

// BulkJobOf returns the entry of Queue.AddBulk that adds a job of args'
// kind, so that one bulk can add typed jobs of several kinds.
func BulkJobOf[T Args](args T, opts *AddOptions) (BulkJob, error) {
	name, data, opts, err := encodeArgs(args, opts)
	if err != nil {
		return BulkJob{}, err
	}
	return BulkJob{Name: name, Data: data, Options: opts}, nil
}

// FlowOf returns a flow node whose job is of args' kind. Set its Queue,
// FailurePolicy and Children as for any Flow.
func FlowOf[T Args](args T, opts *AddOptions) (Flow, error) {
	name, data, opts, err := encodeArgs(args, opts)
	if err != nil {
		return Flow{}, err
	}
	return Flow{Name: name, Data: data, Options: opts}, nil
}

// JobTemplateOf returns the template of a job scheduler whose iterations
// are jobs of args' kind.
func JobTemplateOf[T Args](args T, opts *AddOptions) (JobTemplate, error) {
	name, data, opts, err := encodeArgs(args, opts)
	if err != nil {
		return JobTemplate{}, err
	}
	return JobTemplate{Name: name, Data: data, Options: opts}, nil
}

// JobOf is a job of kind T, as its handler gets it: the job, and its data
// decoded as T.
type JobOf[T Args] struct {
	*Job
	// Args are the job's arguments.
	Args T
}

// ArgsOf decodes job's data as the arguments of kind T. A failure is a
// *DecodeError.
func ArgsOf[T Args](job *Job) (T, error) {
	var args T
	if err := codecOf[T]().Unmarshal(job.Data, &args); err != nil {
		return args, &DecodeError{Kind: kindOf[T](), JobID: job.ID, Err: err}
	}
	return args, nil
}

// Handle returns the Route of kind T: the jobs named T's Kind have their
// data decoded as T and passed to fn, wrapped in mw (the first outermost).
// A job whose data does not decode fails for good with a *DecodeError, and
// fn is not called.
func Handle[T Args](fn func(ctx context.Context, job *JobOf[T]) error, mw ...Middleware) Route {
	if fn == nil {
		return Route{Name: kindOf[T]()}
	}
	return typedRoute(func(ctx context.Context, job *JobOf[T]) ([]byte, error) {
		return nil, fn(ctx, job)
	}, mw)
}

// HandleResult is Handle for a handler with a result: fn's result is
// encoded, as T's arguments are, and stored as the job's result.
func HandleResult[T Args, R any](fn func(ctx context.Context, job *JobOf[T]) (R, error), mw ...Middleware) Route {
	if fn == nil {
		return Route{Name: kindOf[T]()}
	}
	codec := codecOf[T]()
	return typedRoute(func(ctx context.Context, job *JobOf[T]) ([]byte, error) {
		res, err := fn(ctx, job)
		if err != nil {
			return nil, err
		}
		data, err := codec.Marshal(res)
		if err != nil {
			return nil, Unrecoverable(fmt.Errorf("drover: encode the result of job %s: %w", job.ID, err))
		}
		return data, nil
	}, mw)
}

func typedRoute[T Args](fn func(ctx context.Context, job *JobOf[T]) ([]byte, error), mw []Middleware) Route {
	h := func(ctx context.Context, job *Job) ([]byte, error) {
		args, err := ArgsOf[T](job)
		if err != nil {
			return nil, err
		}
		return fn(ctx, &JobOf[T]{Job: job, Args: args})
	}
	return Route{Name: kindOf[T](), Handler: Chain(h, mw...)}
}
