//! The JSON Correspondence answers with: System.Text.Json, camelCase, enums as strings, nulls
//! written (altinn-correspondence `Models/*Ext.cs` and `Mappers/*.cs`,
//! <https://github.com/Altinn/altinn-correspondence/tree/main/src/Altinn.Correspondence.API>).

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::store::{
    CorrespondenceStore, NotificationOrder, Role, StoredAttachment, StoredCorrespondence,
};
use crate::dialect::timestamp;
use crate::seed::content_type_for;

/// Where Correspondence keeps attachment bytes (`AttachmentDataLocationTypeExt`).
const DATA_LOCATION: &str = "AltinnCorrespondenceAttachment";

fn opt_time(at: Option<OffsetDateTime>) -> Value {
    at.map_or(Value::Null, |at| Value::String(timestamp(at)))
}

/// `CorrespondenceOverviewExt`. A sender gets the empty content placeholder once the
/// correspondence has been published (`CorrespondenceContentMapper`).
pub(crate) fn overview(store: &CorrespondenceStore, c: &StoredCorrespondence, role: Role) -> Value {
    let notifications: Vec<Value> = c
        .notifications
        .iter()
        .map(|n| json!({"notificationOrderId": n.order_id, "isReminder": n.is_reminder}))
        .collect();
    let current = c.current();
    json!({
        "recipient": c.recipient_urn(),
        "correspondenceId": c.id,
        "content": content(store, c, role),
        "created": timestamp(c.created),
        "status": current.status.name(),
        "statusText": current.text,
        "statusChanged": timestamp(current.changed),
        "notifications": notifications,
        "altinn2CorrespondenceId": null,
        "published": opt_time(c.published),
        "read": opt_time(c.read_at()),
        "resourceId": c.resource_id,
        "sender": c.sender_urn(),
        "sendersReference": c.senders_reference,
        "messageSender": "",
        "requestedPublishTime": timestamp(c.created),
        "dueDateTime": null,
        "externalReferences": [],
        "propertyList": {},
        "replyOptions": [],
        "notification": null,
        "ignoreReservation": false,
        "isConfirmationNeeded": c.is_confirmation_needed,
        "isConfidential": false,
        "allowForwarding": true,
    })
}

/// `CorrespondenceDetailsExt`: the overview plus the status history (as `role` may see it) and
/// each notification order's delivery state.
pub(crate) fn details(store: &CorrespondenceStore, c: &StoredCorrespondence, role: Role) -> Value {
    let mut value = overview(store, c, role);
    let history: Vec<Value> = c
        .history_for(role)
        .map(|e| {
            json!({"status": e.status.name(), "statusText": e.text, "statusChanged": timestamp(e.changed)})
        })
        .collect();
    value["statusHistory"] = Value::Array(history);
    value["notifications"] = c.notifications.iter().map(|n| notification(c, n)).collect();
    value["systemLabel"] = Value::Null;
    value
}

/// A v1 notification as `NotificationExt`: `id` is the Notifications order id. Before
/// publishing the order waits ("Registered", email "New"); afterwards it is delivered, unless a
/// failure event was published for it.
fn notification(c: &StoredCorrespondence, n: &NotificationOrder) -> Value {
    let (processing, send, succeeded, updated) = match c.published {
        Some(published) if n.failed => ("Completed", "Failed", false, published),
        Some(published) => ("Completed", "Delivered", true, published),
        None => ("Registered", "New", false, n.created),
    };
    let email = json!({
        "id": n.notification_id,
        "succeeded": succeeded,
        "recipient": {
            "emailAddress": format!("post@{}.example.no", c.recipient_orgno),
            "mobileNumber": null,
            "organizationNumber": c.recipient_orgno,
            "nationalIdentityNumber": null,
            "isReserved": null,
        },
        "sendStatus": {"status": send, "description": format!("The email is {}", send.to_lowercase()), "lastUpdate": timestamp(updated)},
    });
    json!({
        "id": n.order_id.to_string(),
        "sendersReference": format!("corr-{}", c.senders_reference),
        "creator": c.sender_org,
        "created": timestamp(n.created),
        "isReminder": n.is_reminder,
        "notificationChannel": "Email",
        "ignoreReservation": false,
        "resourceId": c.resource_id,
        "processingStatus": {"status": processing, "description": format!("Order {}", processing.to_lowercase()), "lastUpdate": timestamp(updated)},
        "notificationStatusDetails": {"email": email.clone(), "sms": null, "emails": [email], "smses": []},
    })
}

fn content(store: &CorrespondenceStore, c: &StoredCorrespondence, role: Role) -> Value {
    if role == Role::Sender && c.published.is_some() {
        return json!({
            "language": "no", "messageTitle": "", "messageSummary": "", "messageBody": "",
            "attachments": [],
        });
    }
    let attachments: Vec<Value> = c
        .attachments
        .iter()
        .filter_map(|id| store.attachments.get(id))
        .map(content_attachment)
        .collect();
    json!({
        "language": "nb",
        "messageTitle": c.title,
        "messageSummary": c.summary,
        "messageBody": c.body,
        "attachments": attachments,
    })
}

/// `CorrespondenceAttachmentExt`
fn content_attachment(a: &StoredAttachment) -> Value {
    let current = a.current();
    json!({
        "created": timestamp(a.created),
        "dataLocationType": DATA_LOCATION,
        "status": current.status,
        "statusText": current.text,
        "statusChanged": timestamp(current.changed),
        "dataType": content_type_for(&a.file_name),
        "expirationTime": null,
        "id": a.id,
        "fileName": a.file_name,
        "displayName": a.file_name,
        "isEncrypted": false,
        "checksum": a.md5_hex,
        "sendersReference": format!("att-{}", a.id),
        "expirationInDays": null,
    })
}

/// `AttachmentOverviewExt` (sender); `with_history` adds `statusHistory` (`AttachmentDetailsExt`).
pub(crate) fn attachment_overview(a: &StoredAttachment, with_history: bool) -> Value {
    let current = a.current();
    let mut value = json!({
        "attachmentId": a.id,
        "status": current.status,
        "statusText": current.text,
        "statusChanged": timestamp(current.changed),
        "correspondenceIds": a.correspondence_ids,
        "dataType": content_type_for(&a.file_name),
        "resourceId": a.resource_id,
        "sender": super::store::organization_urn(&a.sender_orgno),
        "fileName": a.file_name,
        "displayName": a.file_name,
        "isEncrypted": false,
        "checksum": a.md5_hex,
        "sendersReference": format!("att-{}", a.id),
        "dataLocationType": DATA_LOCATION,
    });
    if with_history {
        value["statusHistory"] = a
            .history
            .iter()
            .map(|e| json!({"status": e.status, "statusText": e.text, "statusChanged": timestamp(e.changed)}))
            .collect();
    }
    value
}
