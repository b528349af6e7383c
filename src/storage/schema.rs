// Hand-written to match migrations/*: the tables as the last migration leaves them.

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
        identity -> Nullable<Text>,
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
        added_at -> BigInt,
        producer_id -> Nullable<Text>,
        tlp -> Nullable<Text>,
        recipients -> Text,
        release_at -> BigInt,
        released -> Bool,
        body -> Text,
        several -> Bool,
        num -> BigInt,
        private_copy -> Bool,
    }
}

diesel::table! {
    object_refs (seq, ref_id) {
        seq -> BigInt,
        community_id -> Text,
        ref_id -> Text,
        target_num -> BigInt,
    }
}

diesel::table! {
    object_ids (community_id, stix_id) {
        community_id -> Text,
        stix_id -> Text,
        num -> BigInt,
    }
}

diesel::table! {
    deliveries (user_name, community_id, seq) {
        user_name -> Text,
        community_id -> Text,
        seq -> BigInt,
        date_added -> BigInt,
    }
}

diesel::table! {
    reader_marks (user_name, community_id) {
        user_name -> Text,
        community_id -> Text,
        last_date_added -> BigInt,
    }
}

diesel::table! {
    classes (id) {
        id -> BigInt,
        community_id -> Text,
        key -> Text,
        last_ts -> BigInt,
        last_n -> BigInt,
    }
}

diesel::table! {
    class_rows (class_id, n) {
        class_id -> BigInt,
        n -> BigInt,
        seq -> BigInt,
        ts -> BigInt,
    }
}

diesel::table! {
    reader_views (user_name, community_id) {
        user_name -> Text,
        community_id -> Text,
        class_id -> Nullable<BigInt>,
        start_n -> BigInt,
        base_ts -> Nullable<BigInt>,
        base_n -> BigInt,
    }
}

diesel::table! {
    follows (id) {
        id -> Text,
        user_name -> Text,
        community_id -> Text,
        target -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    notifications (user_name, at) {
        user_name -> Text,
        at -> BigInt,
        id -> Text,
        community_id -> Text,
        seq -> BigInt,
        follow_target -> Text,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        owner -> Text,
        url -> Text,
        secret -> Text,
    }
}

diesel::table! {
    webhook_outbox (webhook_id, user_name, at) {
        webhook_id -> Text,
        user_name -> Text,
        at -> BigInt,
        attempts -> BigInt,
        next_at -> BigInt,
        done_at -> Nullable<BigInt>,
        last_result -> Text,
    }
}

diesel::table! {
    follow_holds (user_name, community_id, container, held) {
        user_name -> Text,
        community_id -> Text,
        container -> Text,
        held -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    feed_marks (user_name) {
        user_name -> Text,
        last_at -> BigInt,
    }
}

diesel::table! {
    mailboxes (id) {
        id -> Text,
        owner -> Text,
        address -> Text,
        schedule -> Text,
        digest_minute -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    mail_cursors (mailbox_id, user_name) {
        mailbox_id -> Text,
        user_name -> Text,
        sent_through -> BigInt,
        next_at -> BigInt,
        attempts -> BigInt,
        last_result -> Text,
    }
}

diesel::table! {
    statuses (id) {
        id -> Text,
        partner_id -> Text,
        created_at -> BigInt,
        body -> Text,
        user_name -> Nullable<Text>,
        community_id -> Nullable<Text>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_name -> Text,
        secret_hash -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        read_only -> Bool,
        note -> Text,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    receipts (id) {
        id -> BigInt,
        user_name -> Text,
        community_id -> Text,
        kind -> Text,
        at -> BigInt,
        seqs -> Text,
        refused -> BigInt,
    }
}

diesel::joinable!(users -> partners (partner_id));
diesel::joinable!(memberships -> communities (community_id));
diesel::joinable!(memberships -> partners (partner_id));
diesel::joinable!(deliveries -> objects (seq));
diesel::joinable!(object_refs -> objects (seq));

diesel::allow_tables_to_appear_in_same_query!(
    meta,
    partners,
    users,
    communities,
    memberships,
    sharing_rules,
    objects,
    object_refs,
    object_ids,
    deliveries,
    reader_marks,
    classes,
    class_rows,
    reader_views,
    follows,
    notifications,
    webhooks,
    webhook_outbox,
    follow_holds,
    feed_marks,
    mailboxes,
    mail_cursors,
    statuses,
    api_tokens,
    receipts,
);
