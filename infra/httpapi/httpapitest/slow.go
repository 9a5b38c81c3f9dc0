// Package httpapitest holds what HTTP tests share: a log sink safe for concurrent
// writers, and a test client no ordinary HTTP client can play: one that
// announces a body and then trickles it, as a hostile client would.
package httpapitest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// hangGuard bounds how long a slow client waits for the server, so a server that never
// cuts it off fails the test instead of hanging it. Not a timing assertion.
const hangGuard = 2 * time.Minute

// SlowBody is a request whose body arrives one byte per interval.
type SlowBody struct {
	conn net.Conn
	done chan struct{}
}

// StartSlowBody sends the request line and headers for a body of declared bytes
// (Content-Type application/json, plus header) to addr, then its first byte, and keeps
// sending one more byte every interval until the server answers.
func StartSlowBody(t testing.TB, addr, method, path string, header http.Header, declared int64, interval time.Duration) *SlowBody {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(hangGuard))
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, path, addr, declared)
	for k, vs := range header {
		for _, v := range vs {
			head += k + ": " + v + "\r\n"
		}
	}
	if _, err := io.WriteString(conn, head+"\r\n{"); err != nil {
		t.Fatal(err)
	}
	s := &SlowBody{conn: conn, done: make(chan struct{})}
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	return s
}

// Close gives up: the client closes its connection mid-body.
func (s *SlowBody) Close() { _ = s.conn.Close() }

// Answer is what the server made of a slow body.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
	Closed bool // the server closed the connection after answering
}

// Result waits for the server's answer; an error means there was none.
func (s *SlowBody) Result() (Answer, error) {
	defer close(s.done)
	br := bufio.NewReader(s.conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return Answer{}, fmt.Errorf("no answer to a slow body: %w", err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return Answer{}, fmt.Errorf("answer to a slow body: %w", err)
	}
	// Anything but more data or our own hang guard means the server closed.
	_, err = br.ReadByte()
	closed := errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	return Answer{Status: res.StatusCode, Header: res.Header, Body: body, Closed: closed}, nil
}
