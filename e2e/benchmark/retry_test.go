package benchmark

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var services = schema.GroupResource{Resource: "services"}

// A create the server timed out on is retried; when the retry finds the
// object stored after all, the stored one is returned.
func TestCreateRetryingReadsWhatATimedOutCreateStored(t *testing.T) {
	answers := []error{apierrors.NewTimeoutError("request did not complete within requested timeout", 0),
		apierrors.NewAlreadyExists(services, "svc-00001")}
	var creates, gets, retries int
	got, err := createRetrying(context.Background(), func(context.Context) (string, error) {
		err := answers[creates]
		creates++
		return "", err
	}, func(context.Context) (string, error) {
		gets++
		return "stored", nil
	}, func(error) { retries++ })
	if err != nil || got != "stored" || creates != 2 || gets != 1 || retries != 1 {
		t.Fatalf("got %q, %v after %d creates, %d gets, %d retries; want \"stored\", nil, 2, 1, 1", got, err, creates, gets, retries)
	}
}

// Any other failure ends at once, and AlreadyExists on the first try is
// not taken for our own timed-out create.
func TestCreateRetryingStopsAtOtherErrors(t *testing.T) {
	for _, first := range []error{apierrors.NewAlreadyExists(services, "svc-00001"), errors.New("connection refused")} {
		creates := 0
		_, err := createRetrying(context.Background(), func(context.Context) (string, error) {
			creates++
			return "", first
		}, func(context.Context) (string, error) { return "stored", nil }, nil)
		if !errors.Is(err, first) || creates != 1 {
			t.Errorf("%v: got %v after %d creates; want the error after 1", first, err, creates)
		}
	}
}
