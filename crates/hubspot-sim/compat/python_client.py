"""Drives the simulator with HubSpot's official Python client, only its host changed.

Usage: python_client.py '<one JSON credentials line as hubspot-sim prints it>'
Prints one "ok <step>" line per step and exits non-zero at the first failure.
"""

import json
import sys

from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.deals import PublicObjectSearchRequest


def main() -> None:
    creds = json.loads(sys.argv[1])
    host = creds["base_url"]

    # OAuth refresh through the client's own tokens API
    anonymous = HubSpot(host=host)
    tokens = anonymous.oauth.tokens_api.create(
        grant_type="refresh_token",
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        refresh_token=creds["refresh_token"],
    )
    assert tokens.access_token and tokens.expires_in > 0, tokens
    print("ok oauth refresh", flush=True)

    client = HubSpot(access_token=tokens.access_token, host=host)

    page = client.crm.deals.basic_api.get_page(limit=10, properties=["dealname", "amount", "dealstage"])
    assert len(page.results) == 10, page
    first = page.results[0]
    assert first.properties["hs_object_id"] == first.id
    assert "dealname" in first.properties
    deals = client.crm.deals.get_all(properties=["dealname"])
    assert len(deals) > 10
    print(f"ok list ({len(deals)} deals through the client's own paging)", flush=True)

    search = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]}],
        sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        properties=["hs_lastmodifieddate"],
        limit=5,
    )
    found = client.crm.deals.search_api.do_search(public_object_search_request=search)
    assert found.total == len(deals), (found.total, len(deals))
    ids = [int(r.id) for r in found.results]
    assert ids == sorted(ids), ids
    print(f"ok search (total {found.total})", flush=True)

    properties = client.crm.properties.core_api.get_all(object_type="deals")
    names = {p.name for p in properties.results}
    assert {"amount", "dealstage", "hs_lastmodifieddate"} <= names
    print(f"ok properties ({len(names)})", flush=True)

    owners = client.crm.owners.owners_api.get_page(limit=100)
    assert owners.results and owners.results[0].id
    print(f"ok owners ({len(owners.results)})", flush=True)

    deal_ids = [d.id for d in deals[:20]]
    batch = client.crm.associations.v4.batch_api.get_page(
        from_object_type="deals",
        to_object_type="companies",
        batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[{"id": i} for i in deal_ids]
        ),
    )
    linked = [r for r in batch.results if r.to]
    assert linked, batch
    target = linked[0].to[0]
    assert str(target.to_object_id).isdigit(), target
    assert target.association_types[0].type_id in (5, 341), target
    print(f"ok associations v4 batch read ({len(linked)} deals with companies)", flush=True)


if __name__ == "__main__":
    main()
