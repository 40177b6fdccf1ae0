package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// runGet is the client on the source node: it sends -n GET requests to a
// URL, each on a new connection (so that kube-proxy picks an endpoint for
// each), resolving names with the DNS server at -dns only, and prints one
// line per request: "ok <answer>" or "error <reason>". It exits 0 whenever
// it could run, so that a test reads failures from the lines.
func runGet(args []string) error {
	fs := newFlags("get")
	dns := fs.String("dns", "", "the only DNS server to ask (ip:port)")
	n := fs.Int("n", 1, "how many requests")
	timeout := fs.Duration("timeout", 2*time.Second, "time limit of each request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *dns == "" {
		return errors.New("get needs -dns and one URL")
	}
	url := fs.Arg(0)
	resolver := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, *dns)
		},
	}
	dialer := &net.Dialer{Resolver: resolver}
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{
		DialContext:       dialer.DialContext,
		DisableKeepAlives: true,
		Proxy:             nil, // never an HTTP proxy from the environment
	}}
	for range *n {
		fmt.Println(get(client, url))
	}
	return nil
}

func get(client *http.Client, url string) string {
	resp, err := client.Get(url)
	if err != nil {
		return "error " + oneLine(err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "error reading the answer: " + oneLine(err.Error())
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("error status %d: %s", resp.StatusCode, oneLine(string(body)))
	}
	return "ok " + oneLine(string(body))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
