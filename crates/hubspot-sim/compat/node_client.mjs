// Drives the simulator with HubSpot's official Node client, only its basePath changed.
// Usage: node node_client.mjs '<one JSON credentials line as hubspot-sim prints it>'
// Prints one "ok <step>" line per step and exits non-zero at the first failure.
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(process.env.HUBSPOT_CLIENT_DIR + "/");
const { Client } = require("@hubspot/api-client");

const creds = JSON.parse(process.argv[2]);
const basePath = creds.base_url;

const anonymous = new Client({ basePath });
const tokens = await anonymous.oauth.tokensApi.create(
  "refresh_token", undefined, undefined, creds.client_id, creds.client_secret, creds.refresh_token,
);
assert.ok(tokens.accessToken && tokens.expiresIn > 0);
console.log("ok oauth refresh");

const client = new Client({ accessToken: tokens.accessToken, basePath, numberOfApiCallRetries: 0 });

const page = await client.crm.deals.basicApi.getPage(10, undefined, ["dealname", "amount"]);
assert.equal(page.results.length, 10);
assert.equal(page.results[0].properties.hs_object_id, page.results[0].id);
const deals = await client.crm.deals.getAll(undefined, undefined, ["dealname"]);
assert.ok(deals.length > 10);
console.log(`ok list (${deals.length} deals through the client's own paging)`);

const found = await client.crm.deals.searchApi.doSearch({
  filterGroups: [{ filters: [{ propertyName: "hs_object_id", operator: "GT", value: "0" }] }],
  sorts: [{ propertyName: "hs_object_id", direction: "ASCENDING" }],
  properties: ["hs_lastmodifieddate"],
  limit: 5,
});
assert.equal(found.total, deals.length);
console.log(`ok search (total ${found.total})`);

const properties = await client.crm.properties.coreApi.getAll("deals");
assert.ok(properties.results.some((p) => p.name === "dealstage"));
console.log(`ok properties (${properties.results.length})`);

const owners = await client.crm.owners.ownersApi.getPage(undefined, undefined, 100);
assert.ok(owners.results.length > 0);
console.log(`ok owners (${owners.results.length})`);

const batch = await client.crm.associations.v4.batchApi.getPage("deals", "companies", {
  inputs: deals.slice(0, 20).map((d) => ({ id: d.id })),
});
const linked = batch.results.filter((r) => r.to.length > 0);
assert.ok(linked.length > 0);
assert.ok(String(linked[0].to[0].toObjectId).match(/^\d+$/));
console.log(`ok associations v4 batch read (${linked.length} deals with companies)`);
