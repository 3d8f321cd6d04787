//! Sockets: non-blocking connects from many loopback source addresses (so that 20k connections
//! never run out of ephemeral ports on one address), and the open-file limit.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// How many loopback source addresses connections are spread over.
pub const SOURCES: u32 = 64;

/// The `i`-th source address: 127.1.0.1, 127.1.0.2, ... (round robin).
#[must_use]
pub fn source_addr(i: u64) -> Ipv4Addr {
    let n = (i % u64::from(SOURCES)) as u32;
    Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8)
}

/// Starts a non-blocking TCP connect to `target` from source address number `i`, with
/// `TCP_NODELAY` set (every frame is latency-sensitive).
///
/// # Errors
/// Socket creation, bind or connect failing other than "in progress".
pub fn connect_from(i: u64, target: SocketAddr) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&SockAddr::from(SocketAddrV4::new(source_addr(i), 0)))?;
    match socket.connect(&SockAddr::from(target)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(115) || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// Raises the soft open-file limit to the hard limit; gives the new soft limit.
#[must_use]
pub fn raise_nofile() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

/// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
#[must_use]
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vmrss(&status)
}

fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_rotate_over_loopback() {
        assert_eq!(source_addr(0), Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(source_addr(1), Ipv4Addr::new(127, 1, 0, 2));
        assert_eq!(source_addr(u64::from(SOURCES)), source_addr(0));
        assert!((0..1000).all(|i| source_addr(i).is_loopback()));
    }

    #[test]
    fn vmrss_line() {
        assert_eq!(parse_vmrss("Name:\tx\nVmRSS:\t   12345 kB\nVmData: 1 kB\n"), Some(12345));
        assert_eq!(parse_vmrss("Name: x\n"), None);
        assert!(rss_kib(std::process::id()).is_some());
    }
}
