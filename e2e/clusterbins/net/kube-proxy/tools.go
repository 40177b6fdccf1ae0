//go:build tools

// Package kubeproxy only names the command the flat-network test bed
// builds, so that `go mod tidy` keeps it in go.mod and go.sum.
package kubeproxy

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
