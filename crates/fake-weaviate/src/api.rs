//! The REST surface: which paths and methods exist (404 and 405 otherwise, in go-openapi's
//! `{"code","message"}` shape), authentication, the small meta endpoints, and the hand-off
//! of every other request to its module.

use crate::config::WEAVIATE_VERSION;
use crate::ctx::{Ctx, Shared};
use crate::http::{Request, Response};
use crate::{batch, graphql, objects, schema};
use serde_json::json;

/// The endpoints of CONTRACT.md, by path shape.
enum Endpoint<'p> {
    Root,
    Meta,
    Live,
    Ready,
    OpenId,
    Nodes,
    Schema,
    SchemaClass(&'p str),
    Properties(&'p str),
    Tenants(&'p str),
    Tenant(&'p str, &'p str),
    Objects,
    ClasslessObject(&'p str),
    Object(&'p str, &'p str),
    References(&'p str, &'p str, &'p str),
    BatchObjects,
    BatchReferences,
    GraphQl,
    Backups(&'p str),
}

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];

fn endpoint<'p>(segments: &[&'p str]) -> Option<(Endpoint<'p>, &'static [&'static str])> {
    use Endpoint::*;
    if segments.iter().any(|s| s.is_empty()) && !segments.is_empty() {
        return None;
    }
    Some(match segments {
        [] => (Root, GET),
        ["meta"] => (Meta, GET),
        [".well-known", "live"] => (Live, GET),
        [".well-known", "ready"] => (Ready, GET),
        [".well-known", "openid-configuration"] => (OpenId, GET),
        ["nodes"] => (Nodes, GET),
        ["schema"] => (Schema, &["GET", "POST"]),
        ["schema", c] => (SchemaClass(c), &["DELETE", "GET", "PUT"]),
        ["schema", c, "properties"] => (Properties(c), POST),
        ["schema", c, "tenants"] => (Tenants(c), &["DELETE", "GET", "POST", "PUT"]),
        ["schema", c, "tenants", t] => (Tenant(c, t), &["GET", "HEAD"]),
        ["objects"] => (Objects, &["GET", "POST"]),
        ["objects", id] => (
            ClasslessObject(id),
            &["DELETE", "GET", "HEAD", "PATCH", "PUT"],
        ),
        ["objects", c, id] => (Object(c, id), &["DELETE", "GET", "HEAD", "PATCH", "PUT"]),
        ["objects", c, id, "references", p] => (References(c, id, p), &["DELETE", "POST", "PUT"]),
        ["batch", "objects"] => (BatchObjects, &["DELETE", "POST"]),
        ["batch", "references"] => (BatchReferences, POST),
        ["graphql"] => (GraphQl, POST),
        ["backups", b] => (Backups(b), &["GET", "POST"]),
        ["backups", b, _] => (Backups(b), &["DELETE", "GET"]),
        ["backups", b, _, "restore"] => (Backups(b), &["GET", "POST"]),
        _ => return None,
    })
}

/// Answers one request (faults have already been applied by the server).
pub(crate) fn handle(shared: &Shared, req: &Request) -> Response {
    let not_found = || Response::framework(404, 404, format!("path {} was not found", req.path));
    let Some(rest) = req.path.strip_prefix("/v1") else {
        return not_found();
    };
    let segments: Vec<&str> = match rest {
        "" | "/" => Vec::new(),
        r => match r.strip_prefix('/') {
            Some(r) => r.split('/').collect(),
            None => return not_found(),
        },
    };
    let Some((ep, allowed)) = endpoint(&segments) else {
        return not_found();
    };
    let method = req.method.as_str();
    if !allowed.contains(&method) {
        return Response::framework(
            405,
            405,
            format!(
                "method {method} is not allowed, but [{}] are",
                allowed.join(",")
            ),
        )
        .with_header("Allow", allowed.join(","));
    }
    let ctx = Ctx { shared, req };
    let exempt = matches!(
        ep,
        Endpoint::Root | Endpoint::Live | Endpoint::Ready | Endpoint::OpenId
    );
    if !exempt {
        if let Err(r) = authorize(&ctx) {
            return r;
        }
    }
    use Endpoint::*;
    let answer = match (ep, method) {
        (Root, _) => Ok(root()),
        (Meta, _) => Ok(Response::json(
            200,
            &json!({"grpcMaxMessageSize": 104_858_000, "hostname": shared.base_url,
                    "modules": {}, "version": WEAVIATE_VERSION}),
        )),
        (Live | Ready, _) => Ok(Response::empty(200)),
        (OpenId, _) => Ok(Response::empty(404)),
        (Nodes, _) => Ok(nodes(&ctx)),
        (Schema, "GET") => Ok(schema::list(&ctx)),
        (Schema, _) => schema::create(&ctx),
        (SchemaClass(c), "GET") => Ok(schema::get(&ctx, c)),
        (SchemaClass(c), "PUT") => schema::update(&ctx, c),
        (SchemaClass(c), _) => Ok(schema::delete(&ctx, c)),
        (Properties(c), _) => schema::add_property(&ctx, c),
        (Tenants(c), "GET") => schema::tenants_get(&ctx, c),
        (Tenants(c), "POST") => schema::tenants_create(&ctx, c),
        (Tenants(c), "PUT") => schema::tenants_update(&ctx, c),
        (Tenants(c), _) => schema::tenants_delete(&ctx, c),
        (Tenant(c, t), m) => schema::tenant_get(&ctx, c, t, m == "HEAD"),
        (Objects, "GET") => objects::list(&ctx),
        (Objects, _) => objects::create(&ctx),
        (ClasslessObject(id), _) => objects::classless(&ctx, id),
        (Object(c, id), "GET") => objects::get(&ctx, c, id, false),
        (Object(c, id), "HEAD") => objects::get(&ctx, c, id, true),
        (Object(c, id), "PUT") => objects::replace(&ctx, c, id),
        (Object(c, id), "PATCH") => objects::merge(&ctx, c, id),
        (Object(c, id), _) => objects::delete(&ctx, c, id),
        (References(c, id, p), _) => objects::references(&ctx, c, id, p),
        (BatchObjects, "POST") => batch::objects(&ctx),
        (BatchObjects, _) => batch::delete(&ctx),
        (BatchReferences, _) => batch::references(&ctx),
        (GraphQl, _) => graphql::query(&ctx),
        (Backups(b), _) => Err(Response::error(
            422,
            format!("backup backend module {b:?} is not enabled on this test server"),
        )),
    };
    match answer {
        Ok(r) | Err(r) => r,
    }
}

/// `Authorization: Bearer <key>` against the configured keys (CONTRACT.md §8.2). With no keys
/// configured every request is anonymous and any header is ignored.
fn authorize(ctx: &Ctx) -> Result<(), Response> {
    let keys = &ctx.config().api_keys;
    if keys.is_empty() {
        return Ok(());
    }
    let Some(header) = ctx.req.header("authorization") else {
        // Weaviate writes this body by hand, spacing included.
        return Err(Response {
            status: 401,
            headers: vec![("Content-Type", "application/json".into())],
            body: br#"{"code":401,"message": "anonymous access not enabled. Please authenticate through one of the available methods: [API-keys]" }"#.to_vec(),
        });
    };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .unwrap_or("")
        .trim();
    if keys.iter().any(|k| k == token) {
        Ok(())
    } else {
        Err(Response::framework(
            401,
            401,
            "unauthorized: invalid api key",
        ))
    }
}

fn root() -> Response {
    let link = |name: &str, href: &str, doc: &str| json!({"name": name, "href": href, "documentationHref": doc});
    Response::json(
        200,
        &json!({"links": [
            link("Meta information about this instance/cluster", "/v1/meta",
                 "https://weaviate.io/developers/weaviate/api/rest/meta"),
            link("view complete schema", "/v1/schema",
                 "https://weaviate.io/developers/weaviate/api/rest/schema"),
            link("CRUD schema", "/v1/schema{/:className}",
                 "https://weaviate.io/developers/weaviate/api/rest/schema"),
            link("CRUD objects", "/v1/objects{/:id}",
                 "https://weaviate.io/developers/weaviate/api/rest/objects"),
            link("trigger and view status of classifications", "/v1/classifications{/:id}",
                 "https://weaviate.io/developers/weaviate/api/rest/classification"),
            link("check if Weaviate is live (returns 200 on GET when live)", "/v1/.well-known/live",
                 "https://weaviate.io/developers/weaviate/api/rest/well-known#liveness"),
            link("check if Weaviate is ready (returns 200 on GET when ready)", "/v1/.well-known/ready",
                 "https://weaviate.io/developers/weaviate/api/rest/well-known#readiness"),
            link("view link to openid configuration (returns 404 on GET if no openid is configured)",
                 "/v1/.well-known/openid-configuration",
                 "https://weaviate.io/developers/weaviate/api/rest/well-known#openid-configuration")
        ]}),
    )
}

/// `GET /v1/nodes`: one healthy node, so clients can check a replication factor.
fn nodes(ctx: &Ctx) -> Response {
    let state = ctx.state();
    let shards: usize = state.classes.values().map(|c| c.shards.len().max(1)).sum();
    let objects: usize = state
        .classes
        .values()
        .flat_map(|c| c.shards.values())
        .map(|s| s.objects.len())
        .sum();
    Response::json(
        200,
        &json!({"nodes": [{
            "batchStats": {"queueLength": 0, "ratePerSecond": 0},
            "gitHash": "fake-weaviate", "name": "node1",
            "stats": {"objectCount": objects, "shardCount": shards},
            "status": "HEALTHY", "version": WEAVIATE_VERSION
        }]}),
    )
}
