//go:build linux

// Package portmodel is a test-only model of the illumos event ports interface, running on
// Linux over real Linux descriptors, so that the poller's event ports backend can execute
// here.
//
// # What it models
//
// port_create, port_associate and port_dissociate for PORT_SOURCE_FD, port_getn, port_send
// and close of the port, as illumos implements them, one Flavour (Illumos). Per port: one
// association per descriptor, keyed by the descriptor number and the file it names; the
// association's life (armed, fired and queued, retrieved and idle); a FIFO queue of fired
// and user events; and these rules, each cited next to the code that follows it:
//
//   - port_associate polls the descriptor at once and queues an event if any asked-for
//     condition holds, else queues one when the condition first arises; the event carries
//     the revents seen when it fired, masked by the asked-for events plus POLLHUP and
//     POLLERR (port_associate(3C); usr/src/uts/common/fs/portfs/port_fd.c
//     port_associate_fd).
//   - Associating an associated descriptor replaces its events and user pointer, drops
//     its queued event if one is waiting, and polls again (port_associate_fd, "already
//     associated").
//   - Retrieving an event dissociates the descriptor ("When an event for a PORT_SOURCE_FD
//     object is retrieved, the object no longer has an association with the port");
//     port_dissociate removes an association and its queued event, and answers ENOENT
//     when there was no active one, EBADFD for a closed descriptor (port_dissociate_fd).
//   - A closed descriptor is dissociated and its event discarded (port.c, "If an
//     associated file descriptor is closed then the file descriptor will be dissociated
//     automatically from the port").
//   - port_getn returns at once when nget events are queued, or, with a zero timeout,
//     with what is there; it sleeps otherwise. A signal ends the sleep with EINTR and no
//     events; the timeout ends it with ETIME and the events that did arrive, fewer than
//     nget (port.c port_getn; port_get(3C)). A descriptor that is not a port gives
//     EBADFD, a closed one EBADF (port.c portfs).
//   - port_send queues a PORT_SOURCE_USER event, retrieved like any other (port_send(3C)).
//   - The port descriptor polls readable while events are queued (port_vnops.c port_poll),
//     so Go's runtime poller can wait on it.
//
// Readiness comes from poll(2) on the Linux descriptor, with the bits renumbered to
// illumos's (POLLRDHUP is 0x2000 on Linux, 0x4000 on illumos). An edge-triggered epoll
// registration of each associated descriptor stands for pollwakeup(): a Linux wakeup on
// the descriptor makes the model poll an armed association again. The descriptor
// PortCreate returns is an epoll instance that polls readable while events are queued or
// a wakeup is pending. Faults are injected with Kernel.FailGetn (EINTR, ETIME) and
// Kernel.FailAssociate.
//
// # What it cannot model
//
//   - The illumos poll routines themselves: which bits a socket, pipe or device raises
//     when is Linux's (a pipe whose reader is gone raises POLLERR on Linux; a
//     never-connected TCP socket POLLHUP), not illumos's sockfs, fifofs and specfs.
//   - A descriptor closed and its number reused for the same open file (dup2 of a
//     duplicate onto it) keeps its association: the model notices a close as a failing
//     fstat or a changed device and inode, where a close is observable (at association,
//     dissociation, wakeup and retrieval).
//   - Regular files poll ready at once, as Linux's and illumos's fs_poll both answer; a
//     Priority-only association of one never fires.
//   - Sharing a port between processes (fork, I_SENDFD), port_alert, port_sendn,
//     PORT_SOURCE_FILE, AIO, timers and message queues, and the process.max-port-events
//     limit (no EAGAIN).
//   - Oracle Solaris: it has the same interface but documents no POLLRDHUP; it is not a
//     flavour here, as no Solaris source was at hand to say what else differs.
package portmodel
