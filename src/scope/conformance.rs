//! Conformance with SMART App Launch 2.2 "Scopes and Launch Context", and properties.

use proptest::prelude::*;
use rstest::rstest;

use super::*;

// Every scope spelled in the SMART 2.2 scopes page, with its canonical v2 form.
#[rstest]
#[case::v2_read_search("patient/Observation.rs", "patient/Observation.rs")]
#[case::v2_read_only("patient/Patient.r", "patient/Patient.r")]
#[case::v2_create("patient/Appointment.c", "patient/Appointment.c")]
#[case::v2_all("user/Appointment.cruds", "user/Appointment.cruds")]
#[case::v2_cud("patient/MedicationRequest.cud", "patient/MedicationRequest.cud")]
#[case::v2_rds("user/Observation.rds", "user/Observation.rds")]
#[case::v2_user_wildcard("user/*.rs", "user/*.rs")]
#[case::v2_patient_wildcard("patient/*.cruds", "patient/*.cruds")]
#[case::v2_system("system/Patient.rs", "system/Patient.rs")]
#[case::v2_system_wildcard("system/*.rs", "system/*.rs")]
#[case::v1_read("patient/Observation.read", "patient/Observation.rs")]
#[case::v1_write("user/Appointment.write", "user/Appointment.cud")]
#[case::v1_star("patient/*.*", "patient/*.cruds")]
#[case::v1_user_star_read("user/*.read", "user/*.rs")]
#[case::v1_system_read("system/*.read", "system/*.rs")]
#[case::query_laboratory(
    "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
    "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
)]
#[case::query_vitals(
    "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs",
    "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
)]
#[case::query_health_concern(
    "patient/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern",
    "patient/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern"
)]
#[case::query_params_sorted(
    "user/Observation.rs?status=final&category=x|y",
    "user/Observation.rs?category=x|y&status=final"
)]
#[case::openid("openid", "openid")]
#[case::fhir_user("fhirUser", "fhirUser")]
#[case::profile("profile", "profile")]
#[case::launch("launch", "launch")]
#[case::launch_patient("launch/patient", "launch/patient")]
#[case::launch_encounter("launch/encounter", "launch/encounter")]
#[case::offline("offline_access", "offline_access")]
#[case::online("online_access", "online_access")]
fn valid_scopes_parse_to_canonical_v2(#[case] raw: &str, #[case] canonical: &str) {
    let s = Scope::parse(raw).unwrap_or_else(|e| panic!("{raw} must parse: {e}"));
    assert_eq!(s.to_string(), canonical);
    assert_eq!(
        Scope::parse(canonical).as_ref(),
        Ok(&s),
        "canonical form parses to the same scope"
    );
}

#[rstest]
#[case::wrong_order("patient/Observation.sr", "in that order")]
#[case::wrong_order_dr("patient/Observation.dr", "in that order")]
#[case::repeated("patient/Observation.rr", "in that order")]
#[case::unknown_letter("patient/Observation.rx", "in that order")]
#[case::empty_perms("patient/Observation.", "in that order")]
#[case::no_perms("patient/Observation", "Resource.permissions")]
#[case::unknown_type("patient/Foo.rs", "not a FHIR R4 resource type")]
#[case::lowercase_type("patient/observation.rs", "not a FHIR R4 resource type")]
#[case::abstract_type("user/Resource.rs", "not a FHIR R4 resource type")]
#[case::bad_context("practitioner/Observation.rs", "not a recognized")]
#[case::capital_context("Patient/Observation.rs", "not a recognized")]
#[case::v1_with_query("patient/Observation.read?category=laboratory", "needs SMART v2")]
#[case::query_without_value("patient/Observation.rs?category", "name=value")]
#[case::query_empty("patient/Observation.rs?", "name=value")]
#[case::unknown_launch("launch/practitioner", "not a SMART launch scope")]
#[case::custom("__steward_admin", "not a recognized")]
#[case::uri("https://example.org/scopes/read", "not a recognized")]
#[case::space("patient/Observation.rs openid", "without spaces")]
#[case::empty("", "non-empty")]
#[case::wrong_case_special("OpenID", "not a recognized")]
fn invalid_scopes_say_why(#[case] raw: &str, #[case] why: &str) {
    let e = Scope::parse(raw).expect_err(raw);
    assert!(
        e.message.contains(why),
        "{raw}: expected '{why}' in '{}'",
        e.message
    );
    assert_eq!(e.scope, raw);
}

fn set(raw: &str) -> ScopeSet {
    let s = ScopeSet::parse(raw);
    assert!(
        s.invalid().is_empty(),
        "test sets are valid: {:?}",
        s.invalid()
    );
    s
}

#[test]
fn union_semantics_merge_permissions() {
    assert_eq!(
        set("patient/Observation.r patient/Observation.s").to_string(),
        "patient/Observation.rs"
    );
    assert_eq!(
        set("patient/Observation.read").to_string(),
        set("patient/Observation.rs").to_string()
    );
}

#[rstest]
#[case::wildcard_covers_type("patient/*.rs", "patient/Observation.rs", true)]
#[case::type_does_not_cover_wildcard("patient/Observation.rs", "patient/*.rs", false)]
#[case::more_perms_cover_fewer("user/Observation.cruds", "user/Observation.r", true)]
#[case::fewer_perms_do_not("user/Observation.r", "user/Observation.rs", false)]
#[case::no_cross_user_patient("user/Observation.rs", "patient/Observation.rs", false)]
#[case::no_cross_system("system/*.cruds", "patient/Observation.r", false)]
#[case::unrestricted_covers_restricted(
    "patient/Observation.rs",
    "patient/Observation.rs?category=a|b",
    true
)]
#[case::restricted_never_covers_unrestricted(
    "patient/Observation.rs?category=a|b",
    "patient/Observation.rs",
    false
)]
#[case::split_across_scopes("patient/Observation.r patient/*.s", "patient/Observation.rs", true)]
#[case::v1_equals_v2("patient/Observation.read", "patient/Observation.rs", true)]
#[case::special_needs_itself("openid", "fhirUser", false)]
fn covers_table(#[case] a: &str, #[case] b: &str, #[case] expected: bool) {
    assert_eq!(set(a).covers(&set(b)), expected, "{a} covers {b}");
}

#[test]
fn difference_is_what_granted_has_beyond_approved() {
    let granted =
        set("openid offline_access patient/Observation.cruds patient/*.rs system/Patient.rs");
    let approved = set("openid patient/Observation.rs patient/Patient.rs");
    assert_eq!(
        granted.difference(&approved).to_string(),
        "offline_access patient/*.rs patient/Observation.cud system/Patient.rs"
    );
    assert!(approved.difference(&approved).is_empty());
}

#[test]
fn normalization_merges_and_drops_covered_scopes() {
    let s = set("patient/Observation.rs patient/*.r patient/Patient.r user/Observation.rs?category=a|b user/Observation.rs");
    let n = s.normalized();
    assert_eq!(
        n.to_string(),
        "patient/*.r patient/Observation.s user/Observation.rs"
    );
    assert!(
        n.covers(&s) && s.covers(&n),
        "normalizing keeps exactly the same access"
    );
}

fn decide(granted: &str, context: Option<Context>, request: &str) -> Decision {
    allows(
        &set(granted),
        context,
        &Request::parse(request).expect(request),
    )
}

#[rstest]
#[case::search("patient/Observation.rs", "GET Observation?patient=1", true)]
#[case::read_needs_r("patient/Observation.s", "GET Observation/1", false)]
#[case::read("patient/Observation.r", "GET Observation/1", true)]
#[case::vread("patient/Patient.r", "GET Patient/1/_history/2", true)]
#[case::instance_history("patient/Patient.r", "GET Patient/1/_history", true)]
#[case::type_history_needs_s("patient/Patient.r", "GET Patient/_history", false)]
#[case::create("user/Observation.c", "POST Observation", true)]
#[case::create_needs_c("user/Observation.rs", "POST Observation", false)]
#[case::update("user/Observation.u", "PUT Observation/5", true)]
#[case::patch("user/Observation.u", "PATCH Observation/5", true)]
#[case::conditional_update("user/Observation.u", "PUT Observation?identifier=x", true)]
#[case::delete("user/Observation.d", "DELETE Observation/5", true)]
#[case::delete_needs_d("user/Observation.cu", "DELETE Observation/5", false)]
#[case::post_search("user/Observation.s", "POST Observation/_search", true)]
#[case::wildcard("user/*.rs", "GET Condition?patient=1", true)]
#[case::system_search_needs_wildcard("system/Observation.s", "GET ?_lastUpdated=gt2024", false)]
#[case::system_search_with_types(
    "system/Observation.s system/Condition.s",
    "GET ?_type=Observation,Condition",
    true
)]
#[case::restricted_search_matching(
    "patient/Observation.rs?category=laboratory",
    "GET Observation?patient=1&category=laboratory",
    true
)]
#[case::restricted_search_other(
    "patient/Observation.rs?category=laboratory",
    "GET Observation?category=vital-signs",
    false
)]
#[case::restricted_search_unrestricted(
    "patient/Observation.rs?category=laboratory",
    "GET Observation?patient=1",
    false
)]
#[case::restricted_read(
    "patient/Observation.rs?category=laboratory",
    "GET Observation/1",
    false
)]
#[case::system_export("system/*.rs", "GET $export", true)]
#[case::system_export_needs_s("system/*.r", "GET $export", false)]
#[case::export_types(
    "system/Patient.rs system/Observation.rs",
    "GET $export?_type=Patient,Observation",
    true
)]
#[case::export_types_missing("system/Patient.rs", "GET $export?_type=Patient,Observation", false)]
#[case::patient_export("system/*.rs", "GET Patient/$export", true)]
#[case::group_export_needs_group(
    "system/Observation.rs",
    "GET Group/g1/$export?_type=Observation",
    false
)]
#[case::group_export(
    "system/Observation.rs system/Group.r",
    "GET Group/g1/$export?_type=Observation",
    true
)]
#[case::export_not_for_patient_scopes("patient/*.rs", "GET Patient/$export", false)]
#[case::other_operation("user/*.cruds", "GET Patient/1/$everything", false)]
fn allows_table(#[case] granted: &str, #[case] request: &str, #[case] allowed: bool) {
    let d = decide(granted, None, request);
    assert_eq!(d.allowed, allowed, "{granted} / {request}: {}", d.reason);
    assert_eq!(
        d.by.is_some(),
        allowed,
        "'by' names the scope exactly when allowed"
    );
}

#[test]
fn contexts_never_cross() {
    let d = decide(
        "user/Observation.rs",
        Some(Context::Patient),
        "GET Observation?patient=1",
    );
    assert!(!d.allowed);
    assert!(d.reason.contains("another context"), "{}", d.reason);
    let d = decide(
        "user/Observation.rs patient/Observation.r",
        Some(Context::Patient),
        "GET Observation/1",
    );
    assert_eq!(d.by.as_deref(), Some("patient/Observation.r"));
}

#[test]
fn denials_explain_restrictions() {
    let d = decide(
        "patient/Observation.rs?category=laboratory",
        None,
        "GET Observation?patient=1",
    );
    assert!(
        d.reason.contains("only allow searches that carry"),
        "{}",
        d.reason
    );
}

#[rstest]
#[case::method("FETCH Observation")]
#[case::no_path("GET")]
#[case::unknown_type("GET Foo/1")]
#[case::export_on_observation("GET Observation/$export")]
#[case::deep("GET Patient/1/Observation/2/3")]
fn bad_requests_are_refused(#[case] request: &str) {
    assert!(Request::parse(request).is_err(), "{request}");
}

#[test]
fn explanations_read_as_sentences() {
    let s = Scope::parse("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
        .expect("valid");
    assert_eq!(
        explain(&s),
        "Read and search Observation resources of the patient in context (only where category = \
         http://terminology.hl7.org/CodeSystem/observation-category|laboratory)."
    );
    let s = Scope::parse("user/*.cud").expect("valid");
    assert_eq!(
        explain(&s),
        "Create, update and delete all resource types that the signed-in user may access."
    );
    assert!(explain(&Scope::parse("offline_access").expect("valid")).contains("refresh token"));
}

#[test]
fn risk_is_a_sum_of_named_reasons() {
    assert_eq!(
        risk(&set(
            "openid fhirUser launch/patient patient/Observation.rs"
        ))
        .score,
        0
    );
    let r = risk(&set("system/*.read offline_access"));
    let traits: Vec<RiskTrait> = r.reasons.iter().map(|x| x.risk_trait).collect();
    assert_eq!(
        traits,
        [
            RiskTrait::BulkExport,
            RiskTrait::SystemLevel,
            RiskTrait::WildcardResource,
            RiskTrait::SensitiveUnrestricted,
            RiskTrait::Refresh
        ]
    );
    assert_eq!(r.score, 5 + 4 + 3 + 2 + 1);
    assert_eq!(r.tier, "high");
    let r = risk(&set("patient/Observation.cruds"));
    assert_eq!(
        (r.score, r.tier.as_str()),
        (5, "medium"),
        "write and delete: {:?}",
        r.reasons
    );
    assert_eq!(
        risk(&set("patient/DocumentReference.rs")).score,
        2,
        "unrestricted sensitive type"
    );
    assert_eq!(
        risk(&set("patient/DocumentReference.rs?category=clinical-note")).score,
        0
    );
}

// ---- properties ----

const TYPES: [&str; 6] = [
    "Observation",
    "Patient",
    "Condition",
    "Encounter",
    "Group",
    "DocumentReference",
];

fn resource_scope() -> impl Strategy<Value = ResourceScope> {
    (
        prop_oneof![
            Just(Context::Patient),
            Just(Context::User),
            Just(Context::System)
        ],
        prop_oneof![
            Just(Resource::Any),
            prop::sample::select(TYPES.to_vec()).prop_map(Resource::Type)
        ],
        1u8..32,
        prop::option::of(prop::sample::select(vec![
            "category=laboratory",
            "category=vital-signs",
            "status=final",
        ])),
    )
        .prop_map(|(context, resource, bits, query)| {
            let mut perms = Perms::NONE;
            for (i, p) in [Perms::C, Perms::R, Perms::U, Perms::D, Perms::S]
                .into_iter()
                .enumerate()
            {
                if bits & (1 << i) != 0 {
                    perms = perms.union(p);
                }
            }
            let query = query.map(|q| {
                let (k, v) = q.split_once('=').expect("k=v");
                grammar::Query(vec![(k.into(), v.into())])
            });
            ResourceScope {
                context,
                resource,
                query,
                perms,
            }
        })
}

fn request() -> impl Strategy<Value = (Context, Request)> {
    (
        prop_oneof![
            Just(Context::Patient),
            Just(Context::User),
            Just(Context::System)
        ],
        prop::sample::select(TYPES.to_vec()),
        prop::sample::select(vec![
            "GET {t}/1",
            "GET {t}/1/_history/2",
            "GET {t}?x=1",
            "GET {t}/_history",
            "POST {t}",
            "PUT {t}/1",
            "PATCH {t}/1",
            "DELETE {t}/1",
            "POST {t}/_search",
            "GET $export?_type={t}",
        ]),
    )
        .prop_map(|(c, t, shape)| {
            (
                c,
                Request::parse(&shape.replace("{t}", t)).expect("valid shape"),
            )
        })
}

proptest! {
    #[test]
    fn parse_print_parse_is_identity(r in resource_scope()) {
        let printed = r.to_string();
        let parsed = Scope::parse(&printed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&parsed, &Scope::Resource(r));
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn covers_is_reflexive_and_transitive(a in resource_scope(), b in resource_scope(), c in resource_scope()) {
        prop_assert!(a.covers(&a));
        if a.covers(&b) && b.covers(&c) {
            prop_assert!(a.covers(&c));
        }
        let (sa, sb) = (single(&a), single(&b));
        prop_assert_eq!(sa.covers(&sb), a.covers(&b), "set and scope coverage agree");
    }

    #[test]
    fn minimal_cover_allows_all_it_saw_and_no_other_cover_is_narrower(
        observed in prop::collection::vec(request(), 1..12),
        other in prop::collection::vec(resource_scope(), 0..10),
    ) {
        let cover = minimal_cover(observed.iter().map(|(c, r)| (*c, r)));
        for (c, r) in &observed {
            let d = allows(&cover, Some(*c), r);
            prop_assert!(d.allowed, "{:?} {:?}: {}", c, r, d.reason);
        }
        // Any other set that allows the same requests covers the minimal one.
        let mut candidate = ScopeSet::default();
        for s in other { candidate.insert(Scope::Resource(s)); }
        let allowed: Vec<&(Context, Request)> =
            observed.iter().filter(|(c, r)| allows(&candidate, Some(*c), r).allowed).collect();
        let narrow = minimal_cover(allowed.iter().map(|(c, r)| (*c, r)));
        prop_assert!(candidate.covers(&narrow), "{} must cover {}", candidate, narrow);
    }

    #[test]
    fn the_parsers_never_panic(input in ".{0,300}") {
        let _ = Scope::parse(&input);
        let _ = ScopeSet::parse(&input);
        let _ = Request::parse(&input);
    }

    #[test]
    fn the_parsers_never_panic_on_scope_shaped_noise(
        input in "(patient|user|system|launch|\\*|/|\\.|\\?|=|&|[crudsCRUDS]|read|write|Observation|\\x{1F600}|\\x00){0,40}"
    ) {
        let _ = Scope::parse(&input);
        let _ = Request::parse(&format!("GET {input}"));
    }
}

fn single(r: &ResourceScope) -> ScopeSet {
    let mut s = ScopeSet::default();
    s.insert(Scope::Resource(r.clone()));
    s
}

#[test]
fn huge_input_is_refused_not_processed() {
    let huge = format!("patient/Observation.rs?category={}", "x".repeat(1_000_000));
    assert!(Scope::parse(&huge)
        .expect_err("too long")
        .message
        .contains("longer than"));
    let many = "patient/Observation.rs ".repeat(100_000);
    assert_eq!(ScopeSet::parse(&many).to_string(), "patient/Observation.rs");
}
