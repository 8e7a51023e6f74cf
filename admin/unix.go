package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// SocketPath returns where the drover command looks for the admin
// endpoint of a bbolt file that another process holds: the file's path
// with ".sock" added ("jobs.db" → "jobs.db.sock").
func SocketPath(boltPath string) string { return boltPath + ".sock" }

// Server is an endpoint served on a Unix socket; see ListenUnix.
type Server struct {
	srv  *http.Server
	path string
	done chan struct{}
	once sync.Once
	err  error
}

// ListenUnix serves h on a Unix socket at path, readable and writable by
// its owner only, until ctx ends or Close is called; then it removes the
// socket. It returns once the socket accepts connections. A socket left
// at path by a process that is gone is replaced; one that a live process
// answers on, or a file that is not a socket, is an error.
//
// The usual call serves Handler next to a bbolt file, where the drover
// command looks for it:
//
//	srv, err := admin.ListenUnix(ctx, admin.SocketPath(path), admin.Handler(store, nil))
func ListenUnix(ctx context.Context, path string, h http.Handler) (*Server, error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	// Listen under a temporary name, restrict it, then move it into
	// place: at no moment can another user connect to path.
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+strconv.Itoa(os.Getpid()))
	_ = os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("drover: admin socket: %w", err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("drover: admin socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("drover: admin socket: %w", err)
	}
	s := &Server{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		path: path,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	go func() {
		<-s.done
		stop()
	}()
	return s, nil
}

// removeStaleSocket removes a socket at path that no process answers on.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("drover: admin socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("drover: admin socket: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("drover: admin socket: another process serves %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("drover: admin socket: %w", err)
	}
	return nil
}

// URL returns the socket's URL for Dial and the drover command's
// --admin flag: "unix://" and the socket's path.
func (s *Server) URL() string { return "unix://" + s.path }

// Close stops serving at once (calls in progress see their context
// cancelled), removes the socket, and returns the error that ended
// serving, if any other than Close.
func (s *Server) Close() error {
	s.once.Do(func() {
		_ = s.srv.Close()
		<-s.done
		_ = os.Remove(s.path)
	})
	return s.err
}
