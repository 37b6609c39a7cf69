package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// messageSize is the size of each message the -clients mode sends.
const messageSize = 128

type clientResult struct {
	messages int64
	elapsed  time.Duration
	err      error // the first client error, if any
}

// runClients is the load of the -clients flag: n connections to addr, made with package
// net (the clients are not the lesson), each sending a message, waiting for its whole
// echo, checking it and repeating, until d has passed.
func runClients(addr string, n int, d time.Duration) clientResult {
	start := time.Now()
	end := start.Add(d)
	var (
		mu  sync.Mutex
		res clientResult
		wg  sync.WaitGroup
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			count, err := oneClient(addr, i, end)
			mu.Lock()
			defer mu.Unlock()
			res.messages += count
			if err != nil && res.err == nil {
				res.err = err
			}
		}(i)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func oneClient(addr string, id int, end time.Time) (int64, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// A deadline past the end, so that a server that stops answering fails the run
	// instead of hanging it.
	c.SetDeadline(end.Add(5 * time.Second))
	msg := bytes.Repeat([]byte{byte('a' + id%26)}, messageSize)
	got := make([]byte, messageSize)
	var count int64
	for time.Now().Before(end) {
		if _, err := c.Write(msg); err != nil {
			return count, err
		}
		if _, err := io.ReadFull(c, got); err != nil {
			return count, err
		}
		if !bytes.Equal(got, msg) {
			return count, fmt.Errorf("client %d: echo differs from the message", id)
		}
		count++
	}
	return count, nil
}
