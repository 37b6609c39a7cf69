module github.com/rawpoll/poller

go 1.21

require golang.org/x/sys v0.4.0
