package remote

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Permission is one verb on one resource that the remote API server
// refused.
type Permission struct {
	Verb, Resource, Group string
}

func (p Permission) String() string {
	if p.Group == "" {
		return p.Verb + " " + p.Resource
	}
	return p.Verb + " " + p.Resource + "." + p.Group
}

// CredentialsError says that the remote API server answered but refused
// the credentials: 401 (the token or certificate is not accepted) or 403
// (the identity lacks a permission svcmirror needs). Unlike an outage,
// waiting does not fix it; an operator must.
type CredentialsError struct {
	// Code is 401 or 403.
	Code int32
	// User is the identity the server named in a 403, when it did.
	User string
	// Denied lists the refused permissions (403 only).
	Denied []Permission
	// Err is the first answer that showed the problem.
	Err error
}

func (e *CredentialsError) Error() string {
	if e.Code == 401 {
		return "401 Unauthorized: the remote API server does not accept the token or client certificate"
	}
	var denied []string
	for _, p := range e.Denied {
		denied = append(denied, "cannot "+p.String())
	}
	msg := strings.Join(denied, ", ") + " (403 Forbidden"
	if e.User != "" {
		msg += " for " + e.User
	}
	return msg + "; manifests/rbac-remote.yaml grants what svcmirror needs)"
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// The API server's 403 message says who was refused what:
// `services is forbidden: User "x" cannot list resource "services" in API group "" at the cluster scope`.
var (
	forbiddenUser = regexp.MustCompile(`User "([^"]*)"`)
	forbiddenVerb = regexp.MustCompile(`cannot (\w+) resource`)
)

// asCredentialsError returns err as a *CredentialsError when it is a 401
// or 403 answer, nil otherwise. verb is what was attempted, used when the
// answer does not say.
func asCredentialsError(err error, verb string) *CredentialsError {
	var existing *CredentialsError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &existing):
		return existing
	case apierrors.IsUnauthorized(err):
		return &CredentialsError{Code: 401, Err: err}
	case !apierrors.IsForbidden(err):
		return nil
	}
	ce := &CredentialsError{Code: 403, Err: err}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		if m := forbiddenVerb.FindStringSubmatch(s.Message); m != nil {
			verb = m[1]
		}
		if m := forbiddenUser.FindStringSubmatch(s.Message); m != nil {
			ce.User = m[1]
		}
		if d := s.Details; d != nil && d.Kind != "" {
			// For a refused request the API server puts the resource in
			// Kind (apierrors.NewForbidden).
			ce.Denied = []Permission{{Verb: verb, Resource: d.Kind, Group: d.Group}}
		}
	}
	if len(ce.Denied) == 0 {
		ce.Denied = []Permission{{Verb: verb, Resource: "(unknown)"}}
	}
	return ce
}

// Validate checks that client can do what a Cluster needs: list and watch
// Services and EndpointSlices in every namespace (one item each, so it
// costs next to nothing). It returns nil, a *CredentialsError naming every
// refused permission, or the first other error (connection refused,
// x509, timeout) as is.
func Validate(ctx context.Context, client kubernetes.Interface) error {
	type check struct {
		verb string
		do   func() error
	}
	one := metav1.ListOptions{Limit: 1}
	// A watch that ends at once: only whether it may be opened matters.
	brief := metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1)}
	checks := []check{
		{"list", func() error { _, err := client.CoreV1().Services("").List(ctx, one); return err }},
		{"watch", func() error {
			w, err := client.CoreV1().Services("").Watch(ctx, brief)
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"list", func() error { _, err := client.DiscoveryV1().EndpointSlices("").List(ctx, one); return err }},
		{"watch", func() error {
			w, err := client.DiscoveryV1().EndpointSlices("").Watch(ctx, brief)
			if err == nil {
				w.Stop()
			}
			return err
		}},
	}
	var refused *CredentialsError
	for _, c := range checks {
		err := c.do()
		ce := asCredentialsError(err, c.verb)
		switch {
		case err == nil:
		case ce == nil:
			return err
		case ce.Code == 401:
			return ce // nothing else will be accepted either
		case refused == nil:
			refused = ce
		default:
			refused.Denied = append(refused.Denied, ce.Denied...)
		}
	}
	if refused != nil {
		return refused
	}
	return nil
}

// Describe says why a connection cannot be used, for reports: the
// credentials problem as is, or the transport error (connection refused,
// x509, timeout) with what was being tried.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	var ce *CredentialsError
	if errors.As(err, &ce) {
		return ce.Error()
	}
	return fmt.Sprintf("remote API server not usable: %v", err)
}
