package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
)

// child is a process tollbench started and stops.
type child struct {
	name   string
	addr   string // host:port it serves on
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// startChild starts this executable with args, its stdout to stdout (a path,
// often os.DevNull) and its stderr to logPath, and waits until addr accepts
// connections.
func startChild(name, addr, stdout, logPath string, env []string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startProcess(name, addr, stdout, logPath, env, exe, args...)
}

func startProcess(name, addr, stdout, logPath string, env []string, bin string, args ...string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	outf := logf
	if stdout != logPath {
		if outf, err = os.OpenFile(stdout, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
			logf.Close()
			return nil, err
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = outf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so that stopping it stops its children
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, addr: addr, cmd: cmd, exited: make(chan struct{}), log: logf}
	go func() {
		_ = cmd.Wait()
		if outf != logf {
			outf.Close()
		}
		close(c.exited)
	}()
	if err := waitListening(addr, c.exited, 30*time.Second); err != nil {
		c.stop()
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%s did not start: %w\n%s", name, err, b)
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) url() string { return "http://" + c.addr }

// stop sends SIGTERM to the child's process group, then SIGKILL after 10s.
func (c *child) stop() {
	select {
	case <-c.exited:
	default:
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.exited
		}
	}
	c.log.Close()
}

func waitListening(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-exited:
			return fmt.Errorf("exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freeAddr() (string, error) {
	p, err := dynamotest.FreePort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}

// findPID returns the pid of a process of ours whose command line holds every
// one of words (dynalite, which dynamotest starts, by its port), or 0.
func findPID(words ...string) int {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		line := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		ok := true
		for _, w := range words {
			if !strings.Contains(line, w) {
				ok = false
				break
			}
		}
		if ok {
			return pid
		}
	}
	return 0
}

// goBuild runs go build in dir with env added to ours.
func goBuild(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out.Bytes())
	}
	return nil
}
