//! Linux: an rtnetlink socket subscribed to link, address and route changes (IPv4 and IPv6).

use std::io;

use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket, protocols::NETLINK_ROUTE};

// <linux/rtnetlink.h>'s legacy multicast group bits.
const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
const RTMGRP_IPV6_ROUTE: u32 = 0x400;

pub struct Watch(TokioSocket);

impl Watch {
    pub fn open() -> io::Result<Self> {
        let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
        let groups =
            RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE;
        socket.socket_mut().bind(&SocketAddr::new(0, groups))?;
        Ok(Self(socket))
    }

    /// Waits for the next change. An overrun (ENOBUFS: more events than the buffer held) is a
    /// change too: the caller re-reads everything anyway.
    pub async fn changed(&mut self) -> io::Result<()> {
        match self.0.recv_from_full().await {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(105) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
