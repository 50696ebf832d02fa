//! `mesh-linkemu`: a user-space Ethernet switch whose links have a set one-way delay and loss,
//! for test beds of real `mesh node` processes in Linux network namespaces
//! (`crates/mesh-cli/tests/netns_scale.rs`, `docs/TESTBED.md`). It stands in for the kernel's
//! `netem` qdisc where that is missing.
//!
//! **How frames reach it.** Each node's namespace has a VXLAN device whose only remote is this
//! switch (`ip link add eth0 type vxlan id 77 remote 10.78.0.1 dstport 20000 dev u0`): the
//! kernel wraps every Ethernet frame the node sends, unicast or broadcast, in a UDP datagram to
//! the switch, and unwraps what the switch sends back. So the switch sees whole Ethernet frames
//! through ordinary UDP sockets. (A TAP device per node would do the same, but attaching to one
//! takes an `ioctl`, and this workspace forbids unsafe code.) The switch completes the TCP and
//! UDP checksums the nodes' kernels leave to the hardware, as a network card would; the nodes'
//! VXLAN devices should not hand over more than one segment a frame (`gso_max_segs 1`).
//!
//! **Ports.** Every `--port IPV4:UDP_PORT` is one node's VXLAN endpoint; ports are numbered from
//! 0 in the order given. The switch receives that node's frames on a socket of its own, bound to
//! `--listen` and UDP_PORT, so every node has its own kernel buffer; datagrams on it from any
//! other address are dropped and counted. A task per socket hands what it receives, with the
//! time it arrived, to the switch through one queue of at most `--inbox-limit` datagrams.
//!
//! **Forwarding.** Like a learning switch: the source MAC address of every frame is remembered
//! against the port it came from (at most [`MAX_MACS`] addresses); a frame to a known unicast
//! address goes to that port, broadcast, multicast and unknown unicast go to every other port.
//!
//! **Links.** Every copy of a frame is held for `--delay` (the one-way delay between two nodes)
//! in a heap ordered by due time, then sent. Each copy is lost with probability `--loss`, drawn
//! from a random generator seeded by `--seed`. At most `--queue-limit` frames wait for one port;
//! more are dropped and counted.
//!
//! **Control.** One command a line on standard input, one answer line on standard output:
//!
//! - `cut 0-5,9`: the listed ports form one group, all the others a second one; frames between
//!   the groups are dropped (answer `ok cut 7 of 12 ports`).
//! - `heal`: one group again (answer `ok healed`).
//! - `stats`: the counters (answer `counters received=.. delivered=.. ...`).
//!
//! The switch prints `ready ...` once it listens, and stops when standard input closes (so a
//! test holding the pipe takes it down with it) or on SIGINT or SIGTERM, printing its counters
//! on standard output, among them the datagrams the kernel of its namespace dropped
//! (`/proc/net/snmp`): `kernel_rcvbuf_errors` when a socket's receive buffer was full,
//! `kernel_sndbuf_errors` when a send found no room further down (e.g. a veth's backlog), which
//! the sender does not learn of.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::net::UdpSocket;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

/// Bytes of the VXLAN header in front of every frame.
const VXLAN_HEADER: usize = 8;
/// The "VNI present" flag of the VXLAN header's first byte.
const VXLAN_FLAG_VNI: u8 = 0x08;
/// Bytes of an Ethernet header: destination, source, EtherType.
const ETHERNET_HEADER: usize = 14;
/// The largest UDP datagram.
const MAX_DATAGRAM: usize = 65_535;
/// MAC addresses the switch remembers at most; frames to others are flooded.
const MAX_MACS: usize = 65_536;
/// Datagrams taken from the inbox in one go at most, before the due copies are sent.
const RECEIVE_BATCH: usize = 64;
/// Control lines waiting to be handled at most.
const CONTROL_QUEUE: usize = 16;

#[derive(Debug, Parser)]
#[command(
    name = "mesh-linkemu",
    version,
    about = "A user-space Ethernet switch between VXLAN endpoints, with a set delay and loss on every link"
)]
struct Args {
    /// IPv4 address the switch's sockets are bound to.
    #[arg(long, value_name = "IPV4", default_value = "0.0.0.0")]
    listen: Ipv4Addr,
    /// One node's VXLAN endpoint (repeatable, at least one): one switch port each, numbered from
    /// 0 in the order given. The switch receives the node's frames on UDP_PORT and sends the
    /// node its frames at IPV4:UDP_PORT; every port needs a UDP port of its own.
    #[arg(long = "port", value_name = "IPV4:UDP_PORT", required = true)]
    ports: Vec<SocketAddrV4>,
    /// One-way delay of every link, e.g. 25ms.
    #[arg(long, value_name = "DURATION", default_value = "25ms", value_parser = humantime::parse_duration)]
    delay: Duration,
    /// Frames lost on every link, in percent (0 to 100).
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_percent)]
    loss: f64,
    /// Seed of the random generator that draws the losses.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Frames waiting for their delay to pass, for one port, at most; more are dropped and
    /// counted.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    queue_limit: usize,
    /// Datagrams received and waiting for the switch at most; more are dropped and counted.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    inbox_limit: usize,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|e| format!("not a number: {e}"))?;
    if (0.0..=100.0).contains(&p) {
        Ok(p)
    } else {
        Err("must be between 0 and 100".into())
    }
}

/// SplitMix64: small, fast and reproducible from its seed; enough to draw losses.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What happened to the frames, printed on exit and by `stats`.
#[derive(Debug, Default)]
struct Counters {
    /// Frames received from a known port.
    received: u64,
    /// Frames flooded to every other port (broadcast, multicast, unknown unicast).
    flooded: u64,
    /// Copies sent to a port after their delay.
    delivered: u64,
    /// Copies dropped by the loss draw.
    lost: u64,
    /// Copies dropped because their ports were in different groups.
    cut: u64,
    /// Copies dropped because the destination port's queue was full.
    queue_full: u64,
    /// Datagrams from an address that is no port.
    unknown_source: u64,
    /// Datagrams too short or without the VXLAN flag.
    malformed: u64,
    /// Copies the socket refused to send.
    send_failed: u64,
    /// The largest datagram received, in bytes (more than the nodes' MTU and 22 bytes of
    /// headers means their devices handed over unsegmented frames).
    largest_datagram: usize,
}

/// What the receiving tasks count.
#[derive(Debug, Default)]
struct InboxCounters {
    /// Datagrams dropped because the inbox was full.
    full: AtomicU64,
    /// Errors receiving from a socket.
    failed: AtomicU64,
}

impl Counters {
    fn line(&self, inbox: &InboxCounters) -> String {
        let (rcvbuf, sndbuf) = kernel_udp_drops();
        format!(
            "counters received={} flooded={} delivered={} lost={} cut={} queue_full={} \
             inbox_full={} unknown_source={} malformed={} send_failed={} receive_failed={} \
             largest_datagram={} kernel_rcvbuf_errors={rcvbuf} kernel_sndbuf_errors={sndbuf}",
            self.received,
            self.flooded,
            self.delivered,
            self.lost,
            self.cut,
            self.queue_full,
            inbox.full.load(AtomicOrdering::Relaxed),
            self.unknown_source,
            self.malformed,
            self.send_failed,
            inbox.failed.load(AtomicOrdering::Relaxed),
            self.largest_datagram,
        )
    }
}

/// `RcvbufErrors` and `SndbufErrors` of UDP in this namespace, from `/proc/net/snmp` ("-" when
/// it cannot be read).
fn kernel_udp_drops() -> (String, String) {
    let text = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return ("-".into(), "-".into());
    };
    let field = |wanted: &str| {
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(name, _)| *name == wanted)
            .map_or_else(|| "-".to_owned(), |(_, value)| value.to_owned())
    };
    (field("RcvbufErrors"), field("SndbufErrors"))
}

/// One copy of a frame, waiting for its delay to pass.
struct Scheduled {
    due: Instant,
    /// Arrival order, so that copies due at the same instant leave in order.
    seq: u64,
    to: usize,
    datagram: Rc<[u8]>,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest due first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// A datagram as one port's socket received it.
struct Arrival {
    port: usize,
    from: SocketAddr,
    at: Instant,
    datagram: Vec<u8>,
}

struct Port {
    /// The node's VXLAN endpoint.
    addr: SocketAddr,
    socket: Arc<UdpSocket>,
    /// 0 or 1; frames cross between ports of the same group only.
    group: u8,
    /// Copies waiting for this port.
    queued: usize,
}

struct Switch {
    ports: Vec<Port>,
    macs: HashMap<[u8; 6], usize>,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    delay: Duration,
    loss: f64,
    queue_limit: usize,
    rng: Rng,
    counters: Counters,
}

impl Switch {
    fn new(args: &Args, sockets: Vec<Arc<UdpSocket>>) -> Self {
        let ports = args
            .ports
            .iter()
            .zip(sockets)
            .map(|(addr, socket)| Port {
                addr: SocketAddr::V4(*addr),
                socket,
                group: 0,
                queued: 0,
            })
            .collect();
        Self {
            ports,
            macs: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            delay: args.delay,
            loss: args.loss / 100.0,
            queue_limit: args.queue_limit,
            rng: Rng(args.seed),
            counters: Counters::default(),
        }
    }

    /// Takes one datagram: learns its source MAC and schedules its copies.
    fn receive(&mut self, arrival: Arrival) {
        let Arrival {
            port: source,
            from,
            at,
            mut datagram,
        } = arrival;
        if self.ports.get(source).map(|p| p.addr.ip()) != Some(from.ip()) {
            self.counters.unknown_source += 1;
            return;
        }
        let frame = datagram.get(VXLAN_HEADER..).unwrap_or_default();
        let flags = datagram.first().copied().unwrap_or_default();
        let (Some(dst), Some(src)) = (mac_at(frame, 0), mac_at(frame, 6)) else {
            self.counters.malformed += 1;
            return;
        };
        if frame.len() < ETHERNET_HEADER || flags & VXLAN_FLAG_VNI == 0 {
            self.counters.malformed += 1;
            return;
        }
        self.counters.received += 1;
        self.counters.largest_datagram = self.counters.largest_datagram.max(datagram.len());
        if let Some(frame) = datagram.get_mut(VXLAN_HEADER..) {
            complete_checksum(frame);
        }
        let unicast = |mac: [u8; 6]| mac[0] & 1 == 0;
        if unicast(src) && (self.macs.len() < MAX_MACS || self.macs.contains_key(&src)) {
            self.macs.insert(src, source);
        }
        let datagram: Rc<[u8]> = Rc::from(datagram);
        let known = if unicast(dst) {
            self.macs.get(&dst).copied()
        } else {
            None
        };
        match known {
            // The destination sits behind the port the frame came from: nothing to cross.
            Some(to) if to == source => {}
            Some(to) => self.schedule(source, to, &datagram, at),
            None => {
                self.counters.flooded += 1;
                for to in 0..self.ports.len() {
                    if to != source {
                        self.schedule(source, to, &datagram, at);
                    }
                }
            }
        }
    }

    /// Holds a copy for port `to` until the delay after its arrival `at` has passed.
    fn schedule(&mut self, from: usize, to: usize, datagram: &Rc<[u8]>, at: Instant) {
        if self.ports[from].group != self.ports[to].group {
            self.counters.cut += 1;
            return;
        }
        if self.loss > 0.0 && self.rng.next_unit() < self.loss {
            self.counters.lost += 1;
            return;
        }
        if self.ports[to].queued >= self.queue_limit {
            self.counters.queue_full += 1;
            return;
        }
        self.ports[to].queued += 1;
        self.seq += 1;
        self.queue.push(Scheduled {
            due: at + self.delay,
            seq: self.seq,
            to,
            datagram: Rc::clone(datagram),
        });
    }

    fn next_due(&self) -> Option<Instant> {
        self.queue.peek().map(|s| s.due)
    }

    /// Sends every copy whose delay has passed.
    fn send_due(&mut self, now: Instant) {
        while self.queue.peek().is_some_and(|s| s.due <= now) {
            let Some(copy) = self.queue.pop() else { break };
            let port = &mut self.ports[copy.to];
            port.queued -= 1;
            match port.socket.try_send_to(&copy.datagram, port.addr) {
                Ok(_) => self.counters.delivered += 1,
                Err(_) => self.counters.send_failed += 1,
            }
        }
    }

    /// Runs one control command; returns the answer line.
    fn command(&mut self, line: &str, inbox: &InboxCounters) -> String {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("cut"), Some(spec)) => match parse_ports(spec, self.ports.len()) {
                Ok(group) => {
                    for (i, port) in self.ports.iter_mut().enumerate() {
                        port.group = u8::from(group.contains(&i));
                    }
                    format!("ok cut {} of {} ports", group.len(), self.ports.len())
                }
                Err(e) => format!("error {e}"),
            },
            (Some("heal"), None) => {
                for port in &mut self.ports {
                    port.group = 0;
                }
                "ok healed".into()
            }
            (Some("stats"), None) => self.counters.line(inbox),
            _ => format!("error unknown command {line:?}: use `cut 0-5,9`, `heal` or `stats`"),
        }
    }
}

/// Fills in the TCP or UDP checksum of an IPv4 frame, as a network card does for a checksum
/// the kernel left to it: a node's stack hands its VXLAN device frames whose checksum holds only
/// the pseudo-header's part, and nothing on the way computes the rest. Other frames are left as
/// they are.
fn complete_checksum(frame: &mut [u8]) {
    const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    if frame.get(12..14) != Some(&ETHERTYPE_IPV4[..]) {
        return;
    }
    let Some(ip) = frame.get_mut(ETHERNET_HEADER..) else {
        return;
    };
    let Some(
        &[
            version_ihl,
            _,
            len_hi,
            len_lo,
            _,
            _,
            frag_hi,
            frag_lo,
            _,
            protocol,
        ],
    ) = ip.get(..10)
    else {
        return;
    };
    let header = usize::from(version_ihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let fragmented = u16::from_be_bytes([frag_hi, frag_lo]) & 0x3fff != 0;
    let at = match protocol {
        TCP => 16,
        UDP => 6,
        _ => return,
    };
    if version_ihl >> 4 != 4 || header < 20 || total < header + at + 2 || fragmented {
        return;
    }
    let Some(packet) = ip.get_mut(..total) else {
        return;
    };
    let (head, segment) = packet.split_at_mut(header);
    segment[at] = 0;
    segment[at + 1] = 0;
    let mut sum = u32::from(protocol) + segment.len() as u32;
    sum = add_words(sum, &head[12..20]);
    sum = add_words(sum, segment);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let mut checksum = !(sum as u16);
    if protocol == UDP && checksum == 0 {
        checksum = 0xffff;
    }
    segment[at..at + 2].copy_from_slice(&checksum.to_be_bytes());
}

/// Adds `bytes` as big-endian 16-bit words (the last one padded) to a ones'-complement sum.
fn add_words(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        if sum > 0xffff_0000 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn mac_at(frame: &[u8], at: usize) -> Option<[u8; 6]> {
    frame.get(at..at + 6)?.try_into().ok()
}

/// Ports from `0-5,9`: numbers and inclusive ranges, separated by commas, each below `count`.
fn parse_ports(spec: &str, count: usize) -> Result<Vec<usize>, String> {
    let number = |s: &str| -> Result<usize, String> {
        let n: usize = s.parse().map_err(|_| format!("{s:?} is no port number"))?;
        if n < count {
            Ok(n)
        } else {
            Err(format!("port {n} does not exist (there are {count})"))
        }
    };
    let mut ports = Vec::new();
    for part in spec.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        ports.extend(first..=last);
    }
    ports.sort_unstable();
    ports.dedup();
    Ok(ports)
}

/// Lines from standard input, read on a thread of their own; the channel closes with stdin.
fn control_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(CONTROL_QUEUE);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Receives one port's datagrams into the switch's inbox until the switch is gone.
async fn receive(
    port: usize,
    socket: Arc<UdpSocket>,
    inbox: mpsc::Sender<Arrival>,
    counters: Arc<InboxCounters>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(_) => {
                counters.failed.fetch_add(1, AtomicOrdering::Relaxed);
                continue;
            }
        };
        let arrival = Arrival {
            port,
            from,
            at: Instant::now(),
            datagram: buf[..len].to_vec(),
        };
        match inbox.try_send(arrival) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                counters.full.fetch_add(1, AtomicOrdering::Relaxed);
            }
            Err(TrySendError::Closed(_)) => return,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (inbox_tx, mut inbox) = mpsc::channel(args.inbox_limit.max(1));
    let inbox_counters = Arc::new(InboxCounters::default());
    let mut sockets = Vec::new();
    for (port, node) in args.ports.iter().enumerate() {
        let local = SocketAddrV4::new(args.listen, node.port());
        let socket = Arc::new(
            UdpSocket::bind(local)
                .await
                .with_context(|| format!("cannot listen on {local} for port {port} ({node})"))?,
        );
        tokio::spawn(receive(
            port,
            Arc::clone(&socket),
            inbox_tx.clone(),
            Arc::clone(&inbox_counters),
        ));
        sockets.push(socket);
    }
    drop(inbox_tx);
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot catch SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot catch SIGTERM")?;
    let mut control = control_lines();
    let mut switch = Switch::new(&args, sockets);
    println!(
        "ready ports={} delay={} loss={}% seed={} queue_limit={} inbox_limit={}",
        args.ports.len(),
        humantime::format_duration(args.delay),
        args.loss,
        args.seed,
        args.queue_limit,
        args.inbox_limit
    );
    loop {
        let wake = switch.next_due();
        tokio::select! {
            arrival = inbox.recv() => {
                let Some(arrival) = arrival else { break };
                switch.receive(arrival);
                for _ in 1..RECEIVE_BATCH {
                    let Ok(arrival) = inbox.try_recv() else { break };
                    switch.receive(arrival);
                }
            }
            () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            line = control.recv() => match line {
                Some(line) => println!("{}", switch.command(&line, &inbox_counters)),
                None => break,
            },
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
        switch.send_due(Instant::now());
    }
    println!("{}", switch.counters.line(&inbox_counters));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists_take_numbers_and_ranges() {
        assert_eq!(parse_ports("0-2,5,2", 8), Ok(vec![0, 1, 2, 5]));
        assert!(parse_ports("3-8", 8).is_err());
        assert!(parse_ports("a", 8).is_err());
    }

    #[test]
    fn completed_checksums_verify() {
        // An Ethernet frame with an IPv4 TCP segment whose checksum is left to the card.
        let mut frame = vec![0u8; ETHERNET_HEADER];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let payload = b"odd-length payload";
        let total = 20 + 20 + payload.len();
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 77, 0, 1, 10, 77, 0, 2,
        ];
        ip[2..4].copy_from_slice(&u16::try_from(total).unwrap().to_be_bytes());
        let mut tcp = vec![0u8; 20];
        tcp[12] = 5 << 4;
        tcp[16..18].copy_from_slice(&[0x12, 0x34]);
        frame.extend(ip);
        frame.extend(tcp);
        frame.extend_from_slice(payload);
        complete_checksum(&mut frame);
        let segment = &frame[ETHERNET_HEADER + 20..];
        let mut sum = 6 + segment.len() as u32;
        sum = add_words(sum, &frame[ETHERNET_HEADER + 12..ETHERNET_HEADER + 20]);
        sum = add_words(sum, segment);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(
            sum, 0xffff,
            "a segment with a right checksum sums to all ones"
        );
    }

    #[test]
    fn the_heap_pops_the_earliest_first() {
        let now = Instant::now();
        let copy = |ms, seq| Scheduled {
            due: now + Duration::from_millis(ms),
            seq,
            to: 0,
            datagram: Rc::from(&[][..]),
        };
        let mut heap = BinaryHeap::from([copy(30, 1), copy(10, 3), copy(10, 2), copy(20, 4)]);
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|c| c.seq)).collect();
        assert_eq!(order, [2, 3, 4, 1]);
    }
}
