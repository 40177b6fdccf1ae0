package main

import (
	"strings"
	"testing"
)

func TestCheckRejectsBadFlagsClearly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check"}, "--link is required"},
		{[]string{"check", "--link=east", "-o", "yaml"}, `-o must be table or json, not "yaml"`},
		{[]string{"check", "--link=east", "--kubeconfig=/does/not/exist"}, "/does/not/exist"},
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
