//! Every request the Altinn client (and the archiver's receipt upload) can send to Storage or an
//! app, as one table. The contract tests (`tools/contract`, `make contract-test`) check each row
//! against Altinn's own OpenAPI documents, and check that every request the code sends while
//! driven against the simulator matches a row, so the table cannot drift from the code.
//!
//! Events (subscriptions) and Correspondence are not here: no generated OpenAPI document for
//! those APIs is in the contracts folder, so there is nothing to check those rows against. The
//! simulator's own tests pin their routes instead.

/// Which Altinn API a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// Platform Storage: paths relative to `{platform}storage/api/v1`.
    Storage,
    /// An app's own API: paths relative to the app's host, starting `/{org}/{app}/`.
    App,
}

/// One request the code can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The operation name the code logs and reports errors under (the client's `Call`
    /// operation, or the receipt uploader's).
    pub name: &'static str,
    /// The API it goes to.
    pub api: Api,
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path template with Altinn's parameter names: relative to `/storage/api/v1` for
    /// Storage, from `/{org}/{app}` for an app.
    pub path: &'static str,
    /// The names of the query parameters the code may send.
    pub query: &'static [&'static str],
}

/// Every Storage and App request the code can send.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "get_instance",
        api: Api::Storage,
        method: "GET",
        path: "/instances/{instanceOwnerPartyId}/{instanceGuid}",
        query: &[],
    },
    Operation {
        name: "download_data",
        api: Api::Storage,
        method: "GET",
        path: "/instances/{instanceOwnerPartyId}/{instanceGuid}/data/{dataGuid}",
        query: &[],
    },
    Operation {
        name: "complete",
        api: Api::Storage,
        method: "POST",
        path: "/instances/{instanceOwnerPartyId}/{instanceGuid}/complete",
        query: &[],
    },
    Operation {
        name: "query_instances",
        api: Api::Storage,
        method: "GET",
        path: "/instances",
        query: &[
            "org",
            "appId",
            "process.isComplete",
            "excludeConfirmedBy",
            "size",
            "continuationToken",
        ],
    },
    Operation {
        name: "get_instance_events",
        api: Api::Storage,
        method: "GET",
        path: "/instances/{instanceOwnerPartyId}/{instanceGuid}/events",
        query: &[],
    },
    Operation {
        name: "get_process_history",
        api: Api::Storage,
        method: "GET",
        path: "/instances/{instanceOwnerPartyId}/{instanceGuid}/process/history",
        query: &[],
    },
    Operation {
        name: "get_application",
        api: Api::Storage,
        method: "GET",
        path: "/applications/{org}/{app}",
        query: &[],
    },
    Operation {
        name: "get_app_instance",
        api: Api::App,
        method: "GET",
        path: "/{org}/{app}/instances/{instanceOwnerPartyId}/{instanceGuid}",
        query: &[],
    },
    // The receipt upload on app-lib's current route (`DataController.PostNewDataElement`).
    Operation {
        name: "upload_receipt",
        api: Api::App,
        method: "POST",
        path: "/{org}/{app}/instances/{instanceOwnerPartyId}/{instanceGuid}/data/type/{dataType}",
        query: &[],
    },
    Operation {
        name: "process_next",
        api: Api::App,
        method: "PUT",
        path: "/{org}/{app}/instances/{instanceOwnerPartyId}/{instanceGuid}/process/next",
        query: &[],
    },
    Operation {
        name: "update_substatus",
        api: Api::App,
        method: "PUT",
        path: "/{org}/{app}/instances/{instanceOwnerPartyId}/{instanceGuid}/substatus",
        query: &[],
    },
];

/// The rows named `name` (an operation may have more than one route, e.g. while it moves).
pub fn operations_named(name: &str) -> impl Iterator<Item = &'static Operation> + '_ {
    OPERATIONS
        .iter()
        .filter(move |operation| operation.name == name)
}
