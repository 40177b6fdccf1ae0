package main

import (
	"errors"
	"time"

	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/svcmirror/svcmirror/metrics"
	"github.com/svcmirror/svcmirror/mirror"
)

func TestAdminEndpoints(t *testing.T) {
	m := metrics.New()
	engine := mirror.New(mirror.Config{Namespace: "ns", LinkName: "east"})
	for _, tc := range []struct {
		name       string
		pprof      bool
		path       string
		wantStatus int
		wantBody   string
	}{
		{"ping answers", false, "/ping", http.StatusOK, "pong"},
		{"ready says why not", false, "/ready", http.StatusServiceUnavailable, "Link not loaded"},
		{"metrics are served", false, "/metrics", http.StatusOK, "gateway_alive"},
		{"pprof is off by default", false, "/debug/pprof/", http.StatusNotFound, ""},
		{"pprof is served when enabled", true, "/debug/pprof/", http.StatusOK, "goroutine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			adminMux(m, engine, tc.pprof).ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("GET %s: %d %q, want %d containing %q", tc.path, rec.Code, rec.Body.String(), tc.wantStatus, tc.wantBody)
			}
		})
	}
}

func TestRunRejectsBadFlagsClearly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "--link is required"},
		{[]string{"run", "--link=east", "--workers=0"}, "--workers must be at least 1"},
		{[]string{"run", "--link=east", "--token-renewal-fraction=1"}, "--token-renewal-fraction must be between 0 and 1"},
		{[]string{"run", "--link=east", "--endpoints-api=slices"}, "--endpoints-api must be endpoints, endpointslices or both"},
		{[]string{"run", "--link=east", "--kubeconfig=/does/not/exist"}, "--kubeconfig /does/not/exist"},
	} {
		var stdout, stderr strings.Builder
		if code := runMain(tc.args, &stdout, &stderr); code != 1 {
			t.Errorf("%v: exit %d, want 1", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr.String(), tc.want)
		}
	}
}

func TestIdentityComesFromThePodNameThenTheHostname(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	host := func(name string, err error) func() (string, error) {
		return func() (string, error) { return name, err }
	}
	if got := identity(env(map[string]string{"POD_NAME": "svcmirror-7d9f-x2"}), host("node-1", nil)); got != "svcmirror-7d9f-x2" {
		t.Errorf("with POD_NAME set: %q", got)
	}
	if got := identity(env(nil), host("svcmirror-7d9f-x2", nil)); got != "svcmirror-7d9f-x2" {
		t.Errorf("without POD_NAME: %q, want the hostname", got)
	}
	got := identity(env(nil), host("", errors.New("no hostname")))
	if !strings.HasPrefix(got, "svcmirror-") || len(got) <= len("svcmirror-") {
		t.Errorf("with neither: %q, want a generated svcmirror-... name", got)
	}
}

func TestElectionTimingsThatAllowTwoWritersAreRejected(t *testing.T) {
	ok := mirror.Election{LeaseDuration: 30 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}
	if err := checkElection(ok); err != nil {
		t.Fatalf("the defaults are rejected: %v", err)
	}
	for name, e := range map[string]mirror.Election{
		"renew deadline not under the lease": {LeaseDuration: 10 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second},
		"retry period not under the renewal": {LeaseDuration: 30 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 2 * time.Second},
		"no retry period":                    {LeaseDuration: 30 * time.Second, RenewDeadline: 10 * time.Second},
	} {
		if err := checkElection(e); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
