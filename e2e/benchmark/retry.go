package benchmark

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// setUpAttempts is how many times a set-up create is tried when the API
// server answers that it timed out or is overloaded. At 50,000 Services a
// kube-apiserver 1.36 create costs O(n) (its ClusterIP allocator counts
// every allocated address), and one create in 50,000 passing the server's
// 60 s request timeout once ended a two-hour run an hour and fifty minutes
// in; set-up is the bench's input, not what it measures, so it is retried.
const setUpAttempts = 5

// setUpRetryWait is the pause before a retried create, so that an
// overloaded server is not pressed harder at once.
const setUpRetryWait = 2 * time.Second

// createRetrying runs create until it succeeds, fails for a reason that
// is not the server's timeout or overload, or has been tried
// setUpAttempts times. A timed-out create may still have been stored, so a
// retry that finds the object already there reads it with get. retried,
// when not nil, hears each retry's cause.
func createRetrying[T any](ctx context.Context, create, get func(context.Context) (T, error), retried func(error)) (T, error) {
	var zero T
	var last error
	for attempt := range setUpAttempts {
		if attempt > 0 {
			if retried != nil {
				retried(last)
			}
			select {
			case <-ctx.Done():
				return zero, ctx.Err()
			case <-time.After(setUpRetryWait):
			}
		}
		obj, err := create(ctx)
		switch {
		case err == nil:
			return obj, nil
		case attempt > 0 && apierrors.IsAlreadyExists(err):
			return get(ctx)
		case apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err):
			last = err
		default:
			return zero, err
		}
	}
	return zero, fmt.Errorf("%d attempts, the last: %w", setUpAttempts, last)
}
