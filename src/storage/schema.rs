// Hand-written to match migrations/*/2026-11-27-000000_init.

diesel::table! {
    meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    partners (id) {
        id -> Text,
        title -> Text,
        enabled -> Bool,
    }
}

diesel::table! {
    users (name) {
        name -> Text,
        partner_id -> Text,
        password_hash -> Text,
        max_tlp -> Text,
        types -> Text,
        redistributes -> Bool,
        enabled -> Bool,
    }
}

diesel::table! {
    communities (id) {
        id -> Text,
        collection_id -> Text,
        title -> Text,
        description -> Nullable<Text>,
        unmarked -> Text,
        types -> Text,
        delay_secs -> BigInt,
        backlog -> Bool,
        dangling_refs -> Text,
        enabled -> Bool,
    }
}

diesel::table! {
    memberships (community_id, partner_id) {
        community_id -> Text,
        partner_id -> Text,
        role -> Text,
        max_tlp -> Text,
        joined_at -> BigInt,
        enabled -> Bool,
    }
}

diesel::table! {
    sharing_rules (community_id, producer_id) {
        community_id -> Text,
        producer_id -> Text,
        exclude -> Text,
        delay_secs -> BigInt,
        types -> Text,
    }
}

diesel::table! {
    objects (seq) {
        seq -> BigInt,
        community_id -> Text,
        stix_id -> Text,
        stix_type -> Text,
        version -> BigInt,
        version_text -> Text,
        versioned -> Bool,
        spec_version -> Text,
        date_added -> BigInt,
        producer_id -> Text,
        body -> Text,
    }
}

diesel::table! {
    statuses (id) {
        id -> Text,
        partner_id -> Text,
        created_at -> BigInt,
        body -> Text,
    }
}

diesel::joinable!(users -> partners (partner_id));
diesel::joinable!(memberships -> communities (community_id));
diesel::joinable!(memberships -> partners (partner_id));

diesel::allow_tables_to_appear_in_same_query!(
    meta,
    partners,
    users,
    communities,
    memberships,
    sharing_rules,
    objects,
    statuses,
);
