//! Every response the simulator serves that HubSpot's OpenAPI files describe is validated
//! against those schemas (the vendored copies in `data/openapi/`).
//!
//! OpenAPI 3.0 is not JSON Schema: `nullable` is rewritten to a `null` type, and the
//! components are carried along so that `#/components/schemas/...` references resolve.
//! The known errata of the files (their README and API.md §18) are patched explicitly, each
//! by a named function that says why, before validation — never by skipping validation.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::helpers::{TestSim, start};

fn spec(file: &str) -> Value {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "data", "openapi", file]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut doc: Value = serde_json::from_str(&text).expect("spec json");
    apply_errata(&mut doc);
    doc
}

fn schemas_mut(doc: &mut Value) -> &mut Map<String, Value> {
    doc["components"]["schemas"]
        .as_object_mut()
        .expect("components.schemas")
}

/// Erratum: v4 `toObjectId` is typed string, but HubSpot sends a JSON number (API.md §11.2,
/// §18.16; Airbyte converts it). The simulator sends numbers on purpose.
fn erratum_to_object_id_is_a_number(doc: &mut Value) {
    for (_, schema) in schemas_mut(doc).iter_mut() {
        if let Some(t) = schema.pointer_mut("/properties/toObjectId") {
            t["type"] = json!(["string", "integer"]);
        }
    }
}

/// Erratum: search `sorts` is typed as an array of strings, but the API takes objects
/// `{propertyName, direction}` (the files' README).
fn erratum_search_sorts_are_objects(doc: &mut Value) {
    if let Some(request) = schemas_mut(doc).get_mut("PublicObjectSearchRequest") {
        request["properties"]["sorts"]["items"] = json!({
            "type": "object",
            "required": ["propertyName"],
            "properties": {
                "propertyName": {"type": "string"},
                "direction": {"type": "string", "enum": ["ASCENDING", "DESCENDING"]},
            },
        });
    }
}

/// Erratum: the text says "up to 6" filter groups and gives no maxima at all; HubSpot's docs
/// (and the simulator) allow 5 groups of at most 6 filters, and 200 results per page.
fn erratum_search_limits(doc: &mut Value) {
    let schemas = schemas_mut(doc);
    if let Some(request) = schemas.get_mut("PublicObjectSearchRequest") {
        request["properties"]["filterGroups"]["maxItems"] = json!(5);
        request["properties"]["limit"]["maximum"] = json!(200);
    }
    if let Some(group) = schemas.get_mut("FilterGroup") {
        group["properties"]["filters"]["maxItems"] = json!(6);
    }
}

/// Erratum: batch inputs have no `maxItems`; HubSpot enforces 100 for objects and 1,000 for
/// association batch reads (API.md §6, §11.2).
fn erratum_batch_maxima(doc: &mut Value) {
    let is_associations = doc["paths"]
        .as_object()
        .is_some_and(|p| p.keys().any(|k| k.contains("/associations/")));
    for (name, schema) in schemas_mut(doc).iter_mut() {
        if (name.starts_with("BatchRead") || name.starts_with("BatchInput"))
            && let Some(inputs) = schema.pointer_mut("/properties/inputs")
        {
            inputs["maxItems"] = json!(if is_associations { 1000 } else { 100 });
        }
    }
}

/// Erratum: `StandardError` requires `errors` and `links`, but HubSpot's 207 bodies carry
/// neither (API.md §6 and §11.2 quote real ones); only `category`, `context`, `message`
/// and `status` are always there.
fn erratum_standard_error_fields(doc: &mut Value) {
    if let Some(error) = schemas_mut(doc).get_mut("StandardError") {
        error["required"] = json!(["category", "context", "message", "status"]);
    }
}

/// Erratum: `TokenResponseIF` is a `oneOf` of two schemas without `additionalProperties:
/// false`, so an access-token response (with a refresh token) matches both and fails
/// `oneOf`; `anyOf` is what the file means.
fn erratum_token_response_one_of(doc: &mut Value) {
    for name in ["TokenResponseIF", "TokenInfoResponseBaseIF"] {
        if let Some(schema) = schemas_mut(doc).get_mut(name)
            && let Some(one_of) = schema.as_object_mut().and_then(|o| o.remove("oneOf"))
        {
            schema["anyOf"] = one_of;
        }
    }
}

/// Erratum: property values are typed string, but a requested property without a value
/// comes back as `null` in real responses (API.md §3).
fn erratum_property_values_may_be_null(doc: &mut Value) {
    for (name, schema) in schemas_mut(doc).iter_mut() {
        if name.starts_with("SimplePublicObject")
            && let Some(values) = schema.pointer_mut("/properties/properties/additionalProperties")
        {
            values["nullable"] = json!(true);
        }
    }
}

/// Erratum: `userId` is typed integer, but deactivated owners have `userId: null` and keep
/// the id in `userIdIncludingInactive` (API.md §10).
fn erratum_archived_owners_have_no_user_id(doc: &mut Value) {
    if let Some(user_id) = schemas_mut(doc)
        .get_mut("PublicOwner")
        .and_then(|o| o.pointer_mut("/properties/userId"))
    {
        user_id["nullable"] = json!(true);
    }
}

/// Erratum: association type `label` is typed string, but unlabeled (default) types carry
/// `label: null` (API.md §11.2).
fn erratum_unlabeled_association_types_have_null_labels(doc: &mut Value) {
    for (_, schema) in schemas_mut(doc).iter_mut() {
        let is_type = schema.pointer("/properties/typeId").is_some();
        if let (true, Some(label)) = (is_type, schema.pointer_mut("/properties/label")) {
            label["nullable"] = json!(true);
        }
    }
}

/// Erratum: `StandardError.subCategory` is typed object, but real 207 association bodies
/// send a string (`"crm.associations.NO_ASSOCIATIONS_FOUND"`, API.md §11.2).
fn erratum_sub_category_is_a_string(doc: &mut Value) {
    if let Some(sub) = schemas_mut(doc)
        .get_mut("StandardError")
        .and_then(|e| e.pointer_mut("/properties/subCategory"))
    {
        *sub = json!({"type": ["string", "object"]});
    }
}

fn apply_errata(doc: &mut Value) {
    if doc["components"]["schemas"].is_object() {
        erratum_to_object_id_is_a_number(doc);
        erratum_search_sorts_are_objects(doc);
        erratum_search_limits(doc);
        erratum_batch_maxima(doc);
        erratum_standard_error_fields(doc);
        erratum_token_response_one_of(doc);
        erratum_property_values_may_be_null(doc);
        erratum_archived_owners_have_no_user_id(doc);
        erratum_unlabeled_association_types_have_null_labels(doc);
        erratum_sub_category_is_a_string(doc);
    }
}

/// Rewrites OpenAPI 3.0 `nullable` into JSON Schema.
fn convert(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| *k != "nullable" && *k != "example")
                .map(|(k, v)| (k.clone(), convert(v)))
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), json!([t, "null"]));
                } else {
                    return json!({"anyOf": [Value::Object(out), {"type": "null"}]});
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(convert).collect()),
        other => other.clone(),
    }
}

fn response_schema(doc: &Value, path: &str, method: &str, status: u16) -> Option<Value> {
    let response = doc["paths"][path][method]["responses"].get(status.to_string())?;
    response
        .pointer("/content/application~1json/schema")
        .cloned()
}

fn validate(doc: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let root = json!({
        "allOf": [convert(schema)],
        "components": convert(&doc["components"]),
    });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(false)
        .build(&root)
        .expect("schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(5)
        .collect()
}

struct Check<'a> {
    file: &'a str,
    template: &'a str,
    method: Method,
    path: String,
    body: Option<Value>,
    form: Option<Vec<(&'a str, String)>>,
    status: u16,
}

fn get(file: &str, template: &str, path: impl Into<String>, status: u16) -> Check<'static> {
    Check {
        file: leak(file),
        template: leak(template),
        method: Method::GET,
        path: path.into(),
        body: None,
        form: None,
        status,
    }
}

fn post(
    file: &str,
    template: &str,
    path: impl Into<String>,
    body: Value,
    status: u16,
) -> Check<'static> {
    Check {
        file: leak(file),
        template: leak(template),
        method: Method::POST,
        path: path.into(),
        body: Some(body),
        form: None,
        status,
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

async fn run(t: &TestSim, check: &Check<'_>) -> Result<(), String> {
    let doc = spec(check.file);
    let mut request = t
        .http
        .request(check.method.clone(), t.url(&check.path))
        .bearer_auth(&t.token);
    if let Some(b) = &check.body {
        request = request.json(b);
    }
    if let Some(f) = &check.form {
        request = request.form(f);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if status != check.status {
        return Err(format!(
            "{} {}: status {status}, wanted {}: {text}",
            check.method, check.path, check.status
        ));
    }
    let method = check.method.as_str().to_ascii_lowercase();
    let schema = response_schema(&doc, check.template, &method, status).ok_or_else(|| {
        format!(
            "{}: no {status} schema for {method} {}",
            check.file, check.template
        )
    })?;
    let instance: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", check.path))?;
    let errors = validate(&doc, &schema, &instance);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} {} ({}): {}",
            check.method,
            check.path,
            check.file,
            errors.join("; ")
        ))
    }
}

#[tokio::test]
async fn every_served_response_matches_hubspots_openapi_schemas() {
    let t = start().await;
    let hub = t.hub();
    let c = t.control();
    let deal = c.records(hub, "deals", false).unwrap()[0].id;
    let company_pairs = c.associations(hub, "companies", "contacts").unwrap();
    let company = company_pairs[0].from_id;
    let schema_id = t.get_json("/crm/v3/schemas", 200).await["results"][0]["objectTypeId"]
        .as_str()
        .unwrap()
        .to_string();
    let car = c.records(hub, "cars", false).unwrap()[0].id;
    let owner = t.get_json("/crm/v3/owners", 200).await["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let search = json!({
        "filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "properties": ["hs_lastmodifieddate"],
        "limit": 5,
        "after": "0",
    });
    let generic = "crm-objects-generic.v3.json";
    let dated = "crm-objects-generic.2026-03.json";
    let mut checks = vec![
        get(
            generic,
            "/crm/v3/objects/{objectType}",
            "/crm/v3/objects/deals?limit=5&associations=companies,contacts&propertiesWithHistory=dealstage",
            200,
        ),
        get(
            generic,
            "/crm/v3/objects/{objectType}",
            "/crm/v3/objects/contacts?archived=true",
            200,
        ),
        get(
            generic,
            "/crm/v3/objects/{objectType}/{objectId}",
            format!("/crm/v3/objects/deals/{deal}?associations=companies"),
            200,
        ),
        post(
            generic,
            "/crm/v3/objects/{objectType}/batch/read",
            "/crm/v3/objects/deals/batch/read",
            json!({"inputs": [{"id": deal.to_string()}], "properties": ["amount"], "propertiesWithHistory": ["amount"]}),
            200,
        ),
        post(
            generic,
            "/crm/v3/objects/{objectType}/batch/read",
            "/crm/v3/objects/deals/batch/read",
            json!({"inputs": [{"id": deal.to_string()}, {"id": "1"}]}),
            207,
        ),
        post(
            generic,
            "/crm/v3/objects/{objectType}/search",
            "/crm/v3/objects/deals/search",
            search.clone(),
            200,
        ),
        get(
            dated,
            "/crm/objects/2026-03/{objectType}",
            "/crm/objects/2026-03/companies?limit=3",
            200,
        ),
        post(
            dated,
            "/crm/objects/2026-03/{objectType}/search",
            "/crm/objects/2026-03/companies/search",
            search.clone(),
            200,
        ),
        post(
            dated,
            "/crm/objects/2026-03/{objectType}/batch/read",
            "/crm/objects/2026-03/companies/batch/read",
            json!({"inputs": [{"id": "1"}]}),
            207,
        ),
        get(
            "crm-custom-objects.v3.json",
            "/crm/v3/objects/{objectType}",
            format!("/crm/v3/objects/{schema_id}?properties=model,make"),
            200,
        ),
        get(
            "crm-custom-objects.v3.json",
            "/crm/v3/objects/{objectType}/{objectId}",
            format!("/crm/v3/objects/p_cars/{car}"),
            200,
        ),
        post(
            "crm-custom-objects.v3.json",
            "/crm/v3/objects/{objectType}/search",
            format!("/crm/v3/objects/{schema_id}/search"),
            search.clone(),
            200,
        ),
        get(
            "crm-properties.v3.json",
            "/crm/v3/properties/{objectType}",
            "/crm/v3/properties/contacts",
            200,
        ),
        get(
            "crm-properties.v3.json",
            "/crm/v3/properties/{objectType}",
            "/crm/v3/properties/companies",
            200,
        ),
        get(
            "crm-properties.v3.json",
            "/crm/v3/properties/{objectType}/{propertyName}",
            "/crm/v3/properties/deals/amount",
            200,
        ),
        get(
            "crm-properties.v3.json",
            "/crm/v3/properties/{objectType}/groups",
            "/crm/v3/properties/deals/groups",
            200,
        ),
        post(
            "crm-properties.v3.json",
            "/crm/v3/properties/{objectType}/batch/read",
            "/crm/v3/properties/deals/batch/read",
            json!({"inputs": [{"name": "amount"}], "archived": false}),
            200,
        ),
        get(
            "crm-properties.2026-03.json",
            "/crm/properties/2026-03/{objectType}",
            format!("/crm/properties/2026-03/{schema_id}"),
            200,
        ),
        get(
            "crm-schemas.v3.json",
            "/crm-object-schemas/v3/schemas",
            "/crm-object-schemas/v3/schemas",
            200,
        ),
        get(
            "crm-schemas.v3.json",
            "/crm-object-schemas/v3/schemas",
            "/crm-object-schemas/v3/schemas?archived=true",
            200,
        ),
        get(
            "crm-schemas.v3.json",
            "/crm-object-schemas/v3/schemas/{objectType}",
            "/crm-object-schemas/v3/schemas/p_cars",
            200,
        ),
        get(
            "crm-schemas.2026-03.json",
            "/crm-object-schemas/2026-03/schemas",
            "/crm-object-schemas/2026-03/schemas",
            200,
        ),
        get(
            "crm-owners.v3.json",
            "/crm/v3/owners",
            "/crm/v3/owners?limit=5",
            200,
        ),
        get(
            "crm-owners.v3.json",
            "/crm/v3/owners",
            "/crm/v3/owners?archived=true",
            200,
        ),
        get(
            "crm-owners.v3.json",
            "/crm/v3/owners/{ownerId}",
            format!("/crm/v3/owners/{owner}"),
            200,
        ),
        get(
            "crm-owners.2026-03.json",
            "/crm/owners/2026-03",
            "/crm/owners/2026-03",
            200,
        ),
        post(
            "crm-associations.v4.json",
            "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
            "/crm/v4/associations/companies/contacts/batch/read",
            json!({"inputs": [{"id": company.to_string()}]}),
            200,
        ),
        post(
            "crm-associations.v4.json",
            "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
            "/crm/v4/associations/companies/contacts/batch/read",
            json!({"inputs": [{"id": company.to_string()}, {"id": "1"}]}),
            207,
        ),
        get(
            "crm-associations.v4.json",
            "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
            format!("/crm/v4/objects/companies/{company}/associations/contacts?limit=2"),
            200,
        ),
        post(
            "crm-associations.2026-03.json",
            "/crm/associations/2026-03/{fromObjectType}/{toObjectType}/batch/read",
            "/crm/associations/2026-03/companies/contacts/batch/read",
            json!({"inputs": [{"id": company.to_string()}, {"id": "2"}]}),
            207,
        ),
        get(
            "crm-associations.2026-03.json",
            "/crm/objects/2026-03/{objectType}/{objectId}/associations/{toObjectType}",
            format!("/crm/objects/2026-03/companies/{company}/associations/contacts"),
            200,
        ),
        post(
            "crm-associations.v3.json",
            "/crm/v3/associations/{fromObjectType}/{toObjectType}/batch/read",
            "/crm/v3/associations/companies/contacts/batch/read",
            json!({"inputs": [{"id": company.to_string()}]}),
            200,
        ),
        post(
            "crm-associations.v3.json",
            "/crm/v3/associations/{fromObjectType}/{toObjectType}/batch/read",
            "/crm/v3/associations/companies/contacts/batch/read",
            json!({"inputs": [{"id": company.to_string()}, {"id": "1"}]}),
            207,
        ),
        get(
            "crm-associations-schema.v4.json",
            "/crm/associations/v4/{fromObjectType}/{toObjectType}/labels",
            "/crm/associations/v4/contacts/companies/labels",
            200,
        ),
        get(
            "oauth.v1.json",
            "/oauth/v1/access-tokens/{token}",
            format!("/oauth/v1/access-tokens/{}", t.token),
            200,
        ),
        get(
            "oauth.v1.json",
            "/oauth/v1/refresh-tokens/{token}",
            format!("/oauth/v1/refresh-tokens/{}", t.portal.refresh_token),
            200,
        ),
    ];
    // one list, read, batch read and search per object-specific file
    for (file, object) in [
        ("crm-deals.v3.json", "0-3"),
        ("crm-companies.v3.json", "companies"),
        ("crm-contacts.v3.json", "contacts"),
        ("crm-line-items.v3.json", "line_items"),
        ("crm-meetings.v3.json", "meetings"),
        ("crm-calls.v3.json", "calls"),
        ("crm-emails.v3.json", "emails"),
        ("crm-tasks.v3.json", "tasks"),
        ("crm-goal-targets.v3.json", "goal_targets"),
        ("crm-products.v3.json", "products"),
    ] {
        let doc = spec(file);
        let paths: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
        let base = paths
            .iter()
            .find(|p| {
                !p.contains('{')
                    && !p.contains("/batch")
                    && !p.ends_with("/search")
                    && !p.ends_with("/merge")
                    && !p.contains("gdpr")
            })
            .unwrap()
            .clone();
        let read = paths
            .iter()
            .find(|p| p.starts_with(&format!("{base}/{{")))
            .unwrap()
            .clone();
        let id = c.records(hub, object, false).unwrap()[0].id;
        checks.push(get(
            file,
            &base,
            format!("/crm/v3/objects/{object}?limit=3&properties=hs_object_id"),
            200,
        ));
        checks.push(get(
            file,
            &read,
            format!("/crm/v3/objects/{object}/{id}"),
            200,
        ));
        checks.push(post(
            file,
            &format!("{base}/batch/read"),
            format!("/crm/v3/objects/{object}/batch/read"),
            json!({"inputs": [{"id": id.to_string()}, {"id": "3"}], "properties": []}),
            207,
        ));
        checks.push(post(
            file,
            &format!("{base}/search"),
            format!("/crm/v3/objects/{object}/search"),
            search.clone(),
            200,
        ));
    }
    let form = |grant: &str| {
        Some(vec![
            ("grant_type", grant.to_string()),
            ("client_id", t.portal.client_id.clone()),
            ("client_secret", t.portal.client_secret.clone()),
            ("refresh_token", t.portal.refresh_token.clone()),
        ])
    };
    for (file, prefix) in [
        ("oauth.v1.json", "/oauth/v1"),
        ("oauth.v3.json", "/oauth/v3"),
        ("oauth.2026-03.json", "/oauth/2026-03"),
    ] {
        let template = format!("{prefix}/token");
        checks.push(Check {
            file: leak(file),
            template: leak(&template),
            method: Method::POST,
            path: template.clone(),
            body: None,
            form: form("refresh_token"),
            status: 200,
        });
    }
    for (file, prefix) in [
        ("oauth.v3.json", "/oauth/v3"),
        ("oauth.2026-03.json", "/oauth/2026-03"),
    ] {
        let template = format!("{prefix}/token/introspect");
        for token in [t.token.clone(), t.portal.refresh_token.clone()] {
            let body = vec![
                ("client_id", t.portal.client_id.clone()),
                ("client_secret", t.portal.client_secret.clone()),
                ("token", token),
            ];
            checks.push(Check {
                file: leak(file),
                template: leak(&template),
                method: Method::POST,
                path: template.clone(),
                body: None,
                form: Some(body),
                status: 200,
            });
        }
    }

    let mut failures = Vec::new();
    for check in &checks {
        if let Err(e) = run(&t, check).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} responses do not match:\n{}",
        failures.len(),
        checks.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_errata_patches_are_needed_and_requests_fit_the_patched_schemas() {
    let search = json!({
        "filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "properties": ["hs_lastmodifieddate"],
        "limit": 200,
        "after": "0",
    });
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "data",
        "openapi",
        "crm-objects-generic.v3.json",
    ]
    .iter()
    .collect();
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let request_ref = json!({"$ref": "#/components/schemas/PublicObjectSearchRequest"});
    assert!(
        !validate(&raw, &request_ref, &search).is_empty(),
        "unpatched, the file rejects object sorts"
    );
    let patched = spec("crm-objects-generic.v3.json");
    assert_eq!(
        validate(&patched, &request_ref, &search),
        Vec::<String>::new()
    );
    let mut six_groups = search.clone();
    six_groups["filterGroups"] = json!(vec![search["filterGroups"][0].clone(); 6]);
    assert!(
        !validate(&patched, &request_ref, &six_groups).is_empty(),
        "the patched schema knows the 5-group limit"
    );

    let association = json!({"toObjectId": 5790939450u64, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}]});
    let assoc_ref = json!({"$ref": "#/components/schemas/MultiAssociatedObjectWithLabel"});
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "data",
        "openapi",
        "crm-associations.v4.json",
    ]
    .iter()
    .collect();
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        !validate(&raw, &assoc_ref, &association).is_empty(),
        "unpatched, the file wants a string toObjectId"
    );
    assert_eq!(
        validate(&spec("crm-associations.v4.json"), &assoc_ref, &association),
        Vec::<String>::new()
    );
}
