package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const noRBACUser = "system:serviceaccount:linkerd-multicluster:nobody"

// forbidden is the API server's answer to a request RBAC refuses.
func forbidden(verb, resource, group string) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: group, Resource: resource}, "",
		fmt.Errorf(`User %q cannot %s resource %q in API group %q at the cluster scope`, noRBACUser, verb, resource, group))
}

// refuse makes client answer verb on resource with err() while it is not
// nil.
func refuse(client *fake.Clientset, verb, resource string, err func() error) {
	if verb == "watch" {
		client.PrependWatchReactor(resource, func(k8stesting.Action) (bool, watch.Interface, error) {
			if e := err(); e != nil {
				return true, nil, e
			}
			return false, nil, nil
		})
		return
	}
	client.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		if e := err(); e != nil {
			return true, nil, e
		}
		return false, nil, nil
	})
}

func TestA403NamesTheRefusedPermissionEvenWhenWrapped(t *testing.T) {
	// The reflector wraps its list error; the details must survive that.
	err := fmt.Errorf("failed to list *v1.Service: %w", forbidden("list", "services", ""))
	ce := asCredentialsError(err, "watch")
	if ce == nil {
		t.Fatal("a wrapped 403 is not recognised as a credentials problem")
	}
	want := &CredentialsError{Code: 403, User: noRBACUser, Denied: []Permission{{Verb: "list", Resource: "services"}}}
	if diff := cmp.Diff(want, ce, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())); diff != "" {
		t.Fatalf("credentials error (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(ce.Error(), "cannot list services (403 Forbidden for "+noRBACUser) {
		t.Fatalf("message %q does not lead with the refused permission and identity", ce.Error())
	}
}

func TestOnlyA401OrA403IsACredentialsProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int32
	}{
		{"an invalid token", apierrors.NewUnauthorized("Unauthorized"), 401},
		{"an RBAC refusal", forbidden("watch", "endpointslices", "discovery.k8s.io"), 403},
		{"a refused connection", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), 0},
		{"a server error", apierrors.NewInternalError(errors.New("etcd down")), 0},
		{"no error", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got int32
			if ce := asCredentialsError(tc.err, "list"); ce != nil {
				got = ce.Code
			}
			if got != tc.code {
				t.Fatalf("credentials problem code %d, want %d (0: not one)", got, tc.code)
			}
		})
	}
}

func TestValidateNamesEveryRefusedPermission(t *testing.T) {
	client := fake.NewClientset()
	refuse(client, "list", "services", func() error { return forbidden("list", "services", "") })
	refuse(client, "watch", "endpointslices", func() error { return forbidden("watch", "endpointslices", "discovery.k8s.io") })
	err := Validate(context.Background(), client)
	var ce *CredentialsError
	if !errors.As(err, &ce) {
		t.Fatalf("Validate = %v, want a *CredentialsError", err)
	}
	want := []Permission{{Verb: "list", Resource: "services"}, {Verb: "watch", Resource: "endpointslices", Group: "discovery.k8s.io"}}
	if diff := cmp.Diff(want, ce.Denied); diff != "" {
		t.Fatalf("denied (-want +got):\n%s", diff)
	}
	if !strings.Contains(ce.Error(), "cannot list services, cannot watch endpointslices.discovery.k8s.io") {
		t.Fatalf("message %q does not name both", ce.Error())
	}
}

func TestValidateReturnsOtherErrorsAsTheyAreAndAcceptsGoodCredentials(t *testing.T) {
	client := fake.NewClientset()
	if err := Validate(context.Background(), client); err != nil {
		t.Fatalf("Validate with every permission = %v, want nil", err)
	}
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	refuse(client, "list", "services", func() error { return refused })
	if err := Validate(context.Background(), client); !errors.Is(err, refused) {
		t.Fatalf("Validate = %v, want the connection error as is", err)
	}
	if got := Describe(refused); !strings.Contains(got, "connection refused") {
		t.Fatalf("Describe = %q, want the cause", got)
	}
}
