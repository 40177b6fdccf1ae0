package main

import (
	"errors"
	"fmt"
	"net/http"
)

// runPod answers every HTTP request with the pod's name and a newline, so
// that a client can tell which endpoint a Service sent it to.
func runPod(args []string) error {
	fs := newFlags("pod")
	name := fs.String("name", "", "the pod name to answer with")
	listen := fs.String("listen", "", "the pod IP and port to serve on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *listen == "" {
		return errors.New("pod needs -name and -listen")
	}
	srv := &http.Server{Addr: *listen, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, *name)
	})}
	return srv.ListenAndServe()
}
