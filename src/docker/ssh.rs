//! Docker over SSH with one login per host: an ssh master connection, and each Docker API
//! connection a `docker system dial-stdio` session multiplexed over it.
//!
//! bollard's own SSH transport launches a new ssh master (a process, a key exchange and a
//! login) for every HTTP connection it opens: with an operator that asks every host about
//! every container each pass, ssh and sshd took a fifth of a 2-core machine while a
//! three-host test ran. Here the master is launched when the first connection needs it
//! and again only when it has died (the host was cut off or rebooted); it ends itself a
//! minute after its last session closes, so a SIGKILLed operator leaves no ssh process
//! behind for long.

use std::io;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::{BollardRequest, ClientVersion, Docker};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use openssh::{ControlPersist, Session, SessionBuilder, Stdio};
use tokio::sync::Mutex;

/// How long ssh gets to connect and log in.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// Keep-alives on the master: it gives up on a host that stopped answering after three.
const ALIVE_EVERY: Duration = Duration::from_secs(5);
/// Seconds the master outlives its last session, this process's end included.
const LINGER_S: NonZeroUsize = NonZeroUsize::new(60).expect("a literal above zero");

/// A client for the Docker Engine at `url` (`ssh://[user@]host[:port]`); dials nothing.
pub(super) fn client(
    url: &str,
    timeout_s: u64,
    version: &ClientVersion,
) -> Result<Docker, bollard::errors::Error> {
    let connector = SshConnector {
        destination: Arc::from(url),
        master: Arc::new(Mutex::new(None)),
    };
    let http: Client<SshConnector, DockerBody> =
        Client::builder(TokioExecutor::new()).build(connector);
    let transport = move |request: BollardRequest| {
        let http = http.clone();
        async move {
            http.request(request)
                .await
                .map_err(bollard::errors::Error::from)
        }
        .boxed()
    };
    Docker::connect_with_custom_transport(transport, Some(url), timeout_s, version)
}

/// The body type of bollard's requests, which bollard does not name publicly.
trait HasBody {
    type Body;
}
impl<B> HasBody for http::Request<B> {
    type Body = B;
}
type DockerBody = <BollardRequest as HasBody>::Body;

/// Opens Docker API connections over the host's one ssh master.
#[derive(Clone)]
struct SshConnector {
    destination: Arc<str>,
    master: Arc<Mutex<Option<Arc<Session>>>>,
}

impl SshConnector {
    /// The live master, launched anew when there is none or the last one died. The lock is
    /// held through the login, so connections opened together wait for one master rather
    /// than each launching its own.
    async fn master(&self) -> Result<Arc<Session>, openssh::Error> {
        let mut master = self.master.lock().await;
        if let Some(session) = master.as_ref() {
            if session.check().await.is_ok() {
                return Ok(session.clone());
            }
        }
        let mut builder = SessionBuilder::default();
        builder
            .connect_timeout(CONNECT_WITHIN)
            .server_alive_interval(ALIVE_EVERY)
            .control_persist(ControlPersist::IdleFor(LINGER_S));
        let (builder, host) = builder.resolve(&self.destination);
        let session = Arc::new(Session::new_process_mux(builder.launch_master(host).await?));
        *master = Some(session.clone());
        Ok(session)
    }

    async fn dial(self) -> Result<SshStream, openssh::Error> {
        let session = self.master().await?;
        let mut child = session
            .arc_command("docker")
            .args(["system", "dial-stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .await?;
        let missing = || openssh::Error::ChildIo(io::ErrorKind::BrokenPipe.into());
        let stdin = child.stdin().take().ok_or_else(missing)?;
        let stdout = child.stdout().take().ok_or_else(missing)?;
        Ok(SshStream {
            stdin: Some(TokioIo::new(stdin)),
            stdout: TokioIo::new(stdout),
            _session: child,
        })
    }
}

impl tower_service::Service<http::Uri> for SshConnector {
    type Response = SshStream;
    type Error = openssh::Error;
    type Future = BoxFuture<'static, Result<SshStream, openssh::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        self.clone().dial().boxed()
    }
}

/// One `docker system dial-stdio` session: the Docker API's bytes over its stdin and stdout.
struct SshStream {
    stdin: Option<TokioIo<openssh::ChildStdin>>,
    stdout: TokioIo<openssh::ChildStdout>,
    /// Held so the session lives as long as the connection.
    _session: openssh::Child<Arc<Session>>,
}

impl SshStream {
    fn stdin(self: Pin<&mut Self>) -> io::Result<Pin<&mut TokioIo<openssh::ChildStdin>>> {
        self.get_mut()
            .stdin
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::ErrorKind::BrokenPipe.into())
    }
}

impl hyper::rt::Read for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stdin()?.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stdin()?.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A pipe has no half-close but dropping it: dial-stdio sees EOF on its stdin.
        std::task::ready!(self.as_mut().stdin()?.poll_shutdown(cx))?;
        self.get_mut().stdin = None;
        Poll::Ready(Ok(()))
    }
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}
