//! The ceiling for dsconn's benchmarks: an HTTP/1.1 server that answers every GET with
//! the same bytes (a body dsconn returned, saved to a file) and
//! `Content-Type: application/json`. It does no routing, no auth and no database, so
//! wrk against it measures what this machine and client can do for that body size.
//!
//! Usage: static-server FILE PORT [MAX_SECONDS]
//! PORT 0 picks a free one. Prints `listening on 127.0.0.1:PORT` on stdout once it
//! accepts connections. Binds loopback only, and exits by itself after MAX_SECONDS
//! (default 3600) so a forgotten one never lingers.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn usage() -> ! {
    eprintln!("usage: static-server FILE PORT [MAX_SECONDS]");
    std::process::exit(2);
}

/// Every GET gets the body; anything else gets an empty 405.
fn answer(body: &Bytes, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return response;
    }
    // Bytes clones share one buffer: no copy per request.
    let mut response = Response::new(Full::new(body.clone()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(port)) = (args.next(), args.next()) else {
        usage()
    };
    let port: u16 = port.parse().unwrap_or_else(|_| usage());
    let max_seconds: u64 = match args.next() {
        None => 3600,
        Some(raw) => raw.parse().unwrap_or_else(|_| usage()),
    };
    if args.next().is_some() {
        usage()
    }
    let body = Bytes::from(std::fs::read(&file).unwrap_or_else(|error| {
        eprintln!("static-server: cannot read {file}: {error}");
        std::process::exit(1);
    }));

    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap_or_else(|error| {
            eprintln!("static-server: cannot listen on 127.0.0.1:{port}: {error}");
            std::process::exit(1);
        });
    let address = listener.local_addr().expect("a bound listener has an address");
    println!("listening on {address}");
    let _ = std::io::stdout().flush();

    let lifetime = tokio::time::sleep(Duration::from_secs(max_seconds));
    tokio::pin!(lifetime);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut lifetime => {
                eprintln!("static-server: {max_seconds}s lifetime over, exiting");
                return;
            }
        };
        let (stream, _) = match accepted {
            Ok(accepted) => accepted,
            // E.g. out of file descriptors: keep serving the connections we have.
            Err(error) => {
                eprintln!("static-server: accept failed: {error}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = answer(&body, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            // A client that hangs up mid-request is no error worth reporting.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
