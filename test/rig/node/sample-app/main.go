// mesh-rig-sample: small stand-ins for Istio's sample apps (helloworld and bookinfo), written
// for the rig's real node. They answer on the same ports and paths as the originals where the
// mesh checks look; they are NOT the upstream images (see test/rig/node/NOTES.md, "Images").
//
// Usage: mesh-rig-sample ROLE        ROLE: helloworld | productpage | details | ratings | reviews
//
//	mesh-rig-sample --version
//
// Env: SERVICE_VERSION (v1, v2, ...), PORT (default 5000 for helloworld, else 9080),
// reviews: ENABLE_RATINGS=true and STAR_COLOR (as the upstream reviews images bake them),
// productpage/reviews: DETAILS_HOSTNAME, REVIEWS_HOSTNAME, RATINGS_HOSTNAME (host or host:port,
// default the service names on port 9080) and SERVICES_DOMAIN (appended to the host names).
// Standard library only.
package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const version = "mesh-rig-sample 1"

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// Headers upstream bookinfo forwards (tracing, end-user), so the stand-ins behave alike.
var forward = []string{"x-request-id", "traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid",
	"x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "b3", "end-user", "user-agent"}

var client = &http.Client{Timeout: 3 * time.Second}

// upstream returns http://<host>[:9080] for NAME (details, reviews, ratings).
func upstream(name string) string {
	h := env(strings.ToUpper(name)+"_HOSTNAME", name)
	if d := os.Getenv("SERVICES_DOMAIN"); d != "" && !strings.Contains(h, ":") {
		h += "." + strings.TrimPrefix(d, ".")
	}
	if _, _, err := net.SplitHostPort(h); err != nil {
		h = net.JoinHostPort(h, "9080")
	}
	return "http://" + h
}

func fetch(in *http.Request, url string, out any) error {
	req, err := http.NewRequestWithContext(in.Context(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for _, h := range forward {
		if v := in.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.Unmarshal(body, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// id reads the trailing path element of /details/<id>, /ratings/<id>, /reviews/<id>.
func id(r *http.Request, prefix string) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(strings.TrimPrefix(r.URL.Path, prefix), "%d", &n); err != nil {
		return 0, false
	}
	return n, true
}

func health(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": name + " is healthy"})
	}
}

// byID serves prefix<n>: answer's body for a numeric product id, else upstream's 400 with the
// wording of that service ("id" or "ID").
func byID(prefix, idWord string, answer func(r *http.Request, n int) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, ok := id(r, prefix)
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "please provide numeric product " + idWord})
			return
		}
		writeJSON(w, http.StatusOK, answer(r, n))
	}
}

func helloworld(mux *http.ServeMux) {
	v := env("SERVICE_VERSION", "v1")
	mux.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "Hello version: %s, instance: %s\n", v, hostname())
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Helloworld is healthy")
	})
}

func details(mux *http.ServeMux) {
	mux.HandleFunc("/health", health("Details"))
	mux.HandleFunc("/details/", byID("/details/", "id", func(_ *http.Request, n int) any {
		return map[string]any{
			"id": n, "author": "William Shakespeare", "year": 1595, "type": "paperback",
			"pages": 200, "publisher": "PublisherA", "language": "English",
			"ISBN-10": "1234567890", "ISBN-13": "123-1234567890",
		}
	}))
}

func ratings(mux *http.ServeMux) {
	mux.HandleFunc("/health", health("Ratings"))
	mux.HandleFunc("/ratings/", byID("/ratings/", "ID", func(_ *http.Request, n int) any {
		return map[string]any{"id": n, "ratings": map[string]int{"Reviewer1": 5, "Reviewer2": 4}}
	}))
}

func reviews(mux *http.ServeMux) {
	withRatings := env("ENABLE_RATINGS", "false") == "true"
	color := env("STAR_COLOR", "black")
	mux.HandleFunc("/health", health("Reviews"))
	mux.HandleFunc("/reviews/", byID("/reviews/", "ID", func(r *http.Request, n int) any {
		rs := []map[string]any{
			{"reviewer": "Reviewer1", "text": "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"},
			{"reviewer": "Reviewer2", "text": "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare."},
		}
		if withRatings {
			var got struct {
				Ratings map[string]int `json:"ratings"`
			}
			if err := fetch(r, fmt.Sprintf("%s/ratings/%d", upstream("ratings"), n), &got); err != nil {
				for _, x := range rs {
					x["rating"] = map[string]any{"error": "Ratings service is currently unavailable"}
				}
			} else {
				for _, x := range rs {
					x["rating"] = map[string]any{"stars": got.Ratings[x["reviewer"].(string)], "color": color}
				}
			}
		}
		return map[string]any{
			"id": fmt.Sprint(n), "podname": hostname(), "clustername": "null", "reviews": rs,
		}
	}))
}

func productpage(mux *http.ServeMux) {
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "Product page is healthy")
	})
	product := map[string]any{"id": 0, "title": "The Comedy of Errors",
		"descriptionHtml": "Wikipedia Summary: The Comedy of Errors is one of William Shakespeare's early plays."}
	mux.HandleFunc("/api/v1/products", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []any{product})
	})
	mux.HandleFunc("/api/v1/products/", func(w http.ResponseWriter, r *http.Request) {
		rest := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/products/"), "/")
		var out any
		code := http.StatusOK
		switch {
		case len(rest) == 1:
			out = product
		case rest[1] == "reviews":
			if err := fetch(r, upstream("reviews")+"/reviews/"+rest[0], &out); err != nil {
				code, out = http.StatusServiceUnavailable, map[string]string{"error": "Sorry, product reviews are currently unavailable for this book."}
			}
		case rest[1] == "ratings":
			if err := fetch(r, upstream("ratings")+"/ratings/"+rest[0], &out); err != nil {
				code, out = http.StatusServiceUnavailable, map[string]string{"error": "Sorry, product ratings are currently unavailable for this book."}
			}
		default:
			http.NotFound(w, r)
			return
		}
		writeJSON(w, code, out)
	})
	mux.HandleFunc("/productpage", func(w http.ResponseWriter, r *http.Request) {
		var d, rv map[string]any
		code := http.StatusOK
		dErr := fetch(r, upstream("details")+"/details/0", &d)
		rErr := fetch(r, upstream("reviews")+"/reviews/0", &rv)
		var b strings.Builder
		fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><title>Simple Bookstore App</title></head><body>\n<h3>%s</h3>\n",
			html.EscapeString(product["title"].(string)))
		if dErr != nil {
			b.WriteString("<h4>Error fetching product details!</h4>\n<p>Sorry, product details are currently unavailable for this book.</p>\n")
		} else {
			fmt.Fprintf(&b, "<h4>Book Details</h4>\n<dl><dt>Type:</dt>%v<dt>Pages:</dt>%v<dt>Publisher:</dt>%v<dt>Language:</dt>%v</dl>\n",
				d["type"], d["pages"], html.EscapeString(fmt.Sprint(d["publisher"])), d["language"])
		}
		if rErr != nil {
			b.WriteString("<h4>Error fetching product reviews!</h4>\n<p>Sorry, product reviews are currently unavailable for this book.</p>\n")
		} else {
			b.WriteString("<h4>Book Reviews</h4>\n")
			list, _ := rv["reviews"].([]any)
			for _, x := range list {
				m, _ := x.(map[string]any)
				fmt.Fprintf(&b, "<blockquote><p>%s</p><small>%s</small>", html.EscapeString(fmt.Sprint(m["text"])),
					html.EscapeString(fmt.Sprint(m["reviewer"])))
				if rt, ok := m["rating"].(map[string]any); ok {
					if s, ok := rt["stars"].(float64); ok {
						fmt.Fprintf(&b, "<font color=\"%s\">%s</font>", html.EscapeString(fmt.Sprint(rt["color"])),
							strings.Repeat("&#9733;", int(s)))
					} else {
						fmt.Fprintf(&b, "<p><i>%s</i></p>", html.EscapeString(fmt.Sprint(rt["error"])))
					}
				}
				b.WriteString("</blockquote>\n")
			}
			fmt.Fprintf(&b, "<dl><dt>Reviews served by:</dt><dd>%s</dd></dl>\n", html.EscapeString(fmt.Sprint(rv["podname"])))
		}
		b.WriteString("</body></html>\n")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		io.WriteString(w, b.String())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "<html><body><a href=\"/productpage\">productpage</a></body></html>\n")
	})
}

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mesh-rig-sample helloworld|productpage|details|ratings|reviews|--version")
		os.Exit(2)
	}
	role := os.Args[1]
	mux := http.NewServeMux()
	port := "9080"
	switch role {
	case "--version", "-version", "version":
		fmt.Println(version)
		return
	case "helloworld":
		helloworld(mux)
		port = "5000"
	case "details":
		details(mux)
	case "ratings":
		ratings(mux)
	case "reviews":
		reviews(mux)
	case "productpage":
		productpage(mux)
	default:
		fmt.Fprintf(os.Stderr, "mesh-rig-sample: unknown role %q\n", role)
		os.Exit(2)
	}
	addr := ":" + env("PORT", port)
	logged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s %s", r.RemoteAddr, r.Method, r.URL.Path)
		mux.ServeHTTP(w, r)
	})
	log.Printf("%s %s version %s listening on %s", version, role, env("SERVICE_VERSION", "v1"), addr)
	srv := &http.Server{Addr: addr, Handler: logged, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
