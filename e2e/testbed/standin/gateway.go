package main

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// runGateway is a stand-in for Linkerd's multicluster gateway. The real
// one accepts mTLS connections on its data port (4143) and routes each to a
// Service by the client's requested identity; this one relays every TCP
// connection on -listen to the one address -to, which is all a test of the
// gateway path needs: a request to a gateway-mode mirror arrives at the
// gateway IP and port and is answered by a pod behind it. Like the real
// gateway it answers GET /ready on its probe address (4191); the answer is
// 503 while -down-file exists, so a test switches the probe without
// touching the process.
func runGateway(args []string) error {
	fs := newFlags("gateway")
	listen := fs.String("listen", "", "the gateway IP and data port")
	to := fs.String("to", "", "the address every connection is relayed to")
	probe := fs.String("probe", "", "the gateway IP and probe port serving /ready")
	downFile := fs.String("down-file", "", "/ready answers 503 while this file exists")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *listen == "" || *to == "" || *probe == "" || *downFile == "" {
		return errors.New("gateway needs -listen, -to, -probe and -down-file")
	}
	data, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	health := &http.Server{Addr: *probe, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" {
			http.NotFound(w, r)
			return
		}
		if _, err := os.Stat(*downFile); err == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})}
	errs := make(chan error, 2)
	go func() { errs <- health.ListenAndServe() }()
	go func() { errs <- relay(data, *to) }()
	return <-errs
}

// relay copies bytes both ways between each accepted connection and a new
// connection to to, until either side closes.
func relay(l net.Listener, to string) error {
	for {
		in, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp", to, 5*time.Second)
			if err != nil {
				log.Printf("Relaying to %s failed: %v", to, err)
				return
			}
			defer out.Close()
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); pipe(out, in) }()
			go func() { defer wg.Done(); pipe(in, out) }()
			wg.Wait()
		}()
	}
}

// pipe copies src to dst, then half-closes dst so the other side sees the
// end of the request or answer.
func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
