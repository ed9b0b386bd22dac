// kube-probe: proves a pod on the rig's real node reaches the API server the in-cluster way:
// KUBERNETES_SERVICE_HOST:PORT (the `kubernetes` ClusterIP), the mounted service-account
// token and CA. Prints the server version and who the API server says we are.
// Standard library only, so it builds with `go build main.go` into a static binary.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		fail("KUBERNETES_SERVICE_HOST/PORT not set")
	}
	token, err := os.ReadFile(saDir + "/token")
	if err != nil {
		fail("token: %v", err)
	}
	caPEM, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		fail("ca.crt: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		fail("no certificate in ca.crt")
	}
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	base := "https://" + net.JoinHostPort(host, port)
	call := func(method, path string, body []byte) []byte {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(token)))
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			fail("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		fmt.Printf("%s %s%s -> %s\n", method, base, path, res.Status)
		return out
	}
	var v struct{ GitVersion string }
	_ = json.Unmarshal(call("GET", "/version", nil), &v)
	fmt.Printf("  server version %s (TLS verified against the SA ca.crt)\n", v.GitVersion)
	var r struct {
		Status struct {
			UserInfo struct {
				Username string
				Groups   []string
			}
		}
	}
	review := []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	_ = json.Unmarshal(call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", review), &r)
	fmt.Printf("  authenticated as %s %v\n", r.Status.UserInfo.Username, r.Status.UserInfo.Groups)
}

func fail(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "kube-probe: "+f+"\n", a...)
	os.Exit(1)
}
