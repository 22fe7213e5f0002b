//! A zreplrs recv-agent as the [`Receiver`]: the connection's protocol client.

use std::time::Duration;

use crate::agent::client::{AgentError, StreamError, Streamed};
use crate::agent::wire::proto;
use crate::agent::wire::splice::FdRead;
use crate::error::Failure;
use crate::transport::Connection;

use super::Receiver;

impl Receiver for Connection {
    fn root(&self) -> &str {
        &self.client_ref().hello.root
    }

    fn start_list(&mut self, req: proto::ListRequest) -> Result<(), AgentError> {
        self.client().start_list(req)
    }

    fn list_reply(&mut self) -> Result<proto::ListReply, AgentError> {
        self.client().list_reply()
    }

    fn receive(
        &mut self,
        req: proto::ReceiveRequest,
        _step: &crate::plan::Step,
        source: &mut dyn FdRead,
        source_ok: &mut dyn FnMut() -> Result<(), Failure>,
        stall: Duration,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<Streamed, StreamError> {
        self.client().receive(req, source, source_ok, stall, on_bytes)
    }

    fn wire_total(&self) -> u64 {
        self.client_ref().wire_total
    }

    fn abort_resume(&mut self, fs: &str) -> Result<(), AgentError> {
        self.client().abort_resume(fs)
    }

    fn hold_last_received(&mut self, fs: &str, snapshot: &str, guid: u64, job_id: &str) -> Result<(), AgentError> {
        self.client().hold_last_received(fs, snapshot, guid, job_id)
    }

    fn rotate(&mut self, fs: &str, common_guid: Option<u64>) -> Result<proto::RotateReply, AgentError> {
        self.client().rotate(fs, common_guid)
    }

    fn set_role(&mut self, req: proto::SetRoleRequest) -> Result<(), AgentError> {
        self.client().set_role(req)
    }
}
