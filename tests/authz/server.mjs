#!/usr/bin/env node
// Local OAuth 2.0 authorization server for Steward's integration tests and
// benchmarks, built on the `oidc-provider` npm package (pinned in package.json).
//
//   node tests/authz/server.mjs --port 0 [--broken-revocation] [--token-ttl 600]
//                               [--rotate-registration-access-token]
//                               [--extra-scopes "scope1 scope2"]
//
// Prints exactly one line on stdout when ready:
//   listening http://127.0.0.1:PORT
// and runs until SIGTERM/SIGINT. Everything else (errors) goes to stderr.
// See README.md beside this file for the endpoints and the quirks.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

// Nothing but the listening line may reach stdout: oidc-provider prints its
// notices with console.info, so route console.info/log to stderr.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

function usage(message) {
  if (message) console.error(`server.mjs: ${message}`);
  console.error('usage: node server.mjs --port N [--broken-revocation] [--token-ttl SECONDS]'
    + ' [--rotate-registration-access-token] [--extra-scopes "a b"]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    port: undefined,
    brokenRevocation: false,
    tokenTtl: 600,
    rotateRat: false,
    extraScopes: [],
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [name, inline] = arg.startsWith('--') && arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      i += 1;
      if (i >= argv.length) usage(`${name} needs a value`);
      return argv[i];
    };
    switch (name) {
      case '--port': {
        const v = value();
        if (!/^\d+$/.test(v) || Number(v) > 65535) usage(`invalid --port ${v}`);
        opts.port = Number(v);
        break;
      }
      case '--broken-revocation':
        opts.brokenRevocation = true;
        break;
      case '--token-ttl': {
        const v = value();
        if (!/^\d+$/.test(v) || Number(v) < 1) usage(`invalid --token-ttl ${v}`);
        opts.tokenTtl = Number(v);
        break;
      }
      case '--rotate-registration-access-token':
        opts.rotateRat = true;
        break;
      case '--extra-scopes':
        opts.extraScopes.push(...value().split(/\s+/).filter(Boolean));
        break;
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown argument ${arg}`);
    }
  }
  if (opts.port === undefined) usage('--port is required (0 picks a free port)');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------
// Scopes. oidc-provider only knows a fixed set of scope values (the `scopes`
// configuration is copied into a plain Set and is also used to silently drop
// unknown values from token requests), so a pattern cannot be plugged in.
// Instead the full SMART v1 + v2 grammar is enumerated for every FHIR R4
// resource type and the three contexts (system/user/patient).
// ---------------------------------------------------------------------------

const FHIR_R4_RESOURCE_TYPES = `
Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse
AuditEvent Basic Binary BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement
CarePlan CareTeam CatalogEntry ChargeItem ChargeItemDefinition Claim ClaimResponse
ClinicalImpression CodeSystem Communication CommunicationRequest CompartmentDefinition
Composition ConceptMap Condition Consent Contract Coverage CoverageEligibilityRequest
CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric DeviceRequest
DeviceUseStatement DiagnosticReport DocumentManifest DocumentReference EffectEvidenceSynthesis
Encounter Endpoint EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence
EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal
GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization
ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice
Library Linkage List Location Measure MeasureReport Media Medication MedicationAdministration
MedicationDispense MedicationKnowledge MedicationRequest MedicationStatement MedicinalProduct
MedicinalProductAuthorization MedicinalProductContraindication MedicinalProductIndication
MedicinalProductIngredient MedicinalProductInteraction MedicinalProductManufactured
MedicinalProductPackaged MedicinalProductPharmaceutical MedicinalProductUndesirableEffect
MessageDefinition MessageHeader MolecularSequence NamingSystem NutritionOrder Observation
ObservationDefinition OperationDefinition OperationOutcome Organization OrganizationAffiliation
Parameters Patient PaymentNotice PaymentReconciliation Person PlanDefinition Practitioner
PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse RelatedPerson
RequestGroup ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject
RiskAssessment RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen
SpecimenDefinition StructureDefinition StructureMap Subscription Substance SubstanceNucleicAcid
SubstancePolymer SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial
SubstanceSpecification SupplyDelivery SupplyRequest Task TerminologyCapabilities TestReport
TestScript ValueSet VerificationResult VisionPrescription
`.split(/\s+/).filter(Boolean);

function smartPermissions() {
  // SMART v1: read, write, *. SMART v2: any non-empty subset of c,r,u,d,s
  // written in that order (31 combinations).
  const perms = ['read', 'write', '*'];
  const letters = ['c', 'r', 'u', 'd', 's'];
  for (let mask = 1; mask < 32; mask += 1) {
    perms.push(letters.filter((_, bit) => mask & (1 << bit)).join(''));
  }
  return perms;
}

function buildScopes(extra) {
  const scopes = new Set([
    'openid', 'offline_access', 'online_access', 'profile', 'fhirUser',
    'launch', 'launch/patient', 'launch/encounter',
  ]);
  const perms = smartPermissions();
  for (const context of ['system', 'user', 'patient']) {
    for (const type of ['*', ...FHIR_R4_RESOURCE_TYPES]) {
      for (const perm of perms) scopes.add(`${context}/${type}.${perm}`);
    }
  }
  for (const s of extra) scopes.add(s);
  return scopes;
}

const SCOPES = buildScopes(opts.extraScopes);

// ---------------------------------------------------------------------------
// Storage: a plain Map-based adapter. oidc-provider's bundled MemoryAdapter is
// an LRU capped at 1000 entries (clients, registration access tokens and
// tokens share it), which would evict clients in a 5,000-client benchmark.
// This one never evicts; expired entries are dropped when read and by a sweep.
// ---------------------------------------------------------------------------

const STORES = new Map(); // model name -> Map(id -> { payload, expiresAt })
const GRANT_INDEX = new Map(); // grantId -> Set of [modelName, id]
const UID_INDEX = new Map(); // session uid -> id
const USER_CODE_INDEX = new Map(); // `${model}:${userCode}` -> id
const SWEEP_GRACE_MS = 60_000;

function storeFor(name) {
  let store = STORES.get(name);
  if (!store) {
    store = new Map();
    STORES.set(name, store);
  }
  return store;
}

class MapAdapter {
  constructor(name) {
    this.name = name;
    this.store = storeFor(name);
  }

  #live(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' && expiresIn > 0
      ? Date.now() + expiresIn * 1000 + SWEEP_GRACE_MS
      : Infinity;
    this.store.set(id, { payload, expiresAt });
    if (payload.grantId) {
      let members = GRANT_INDEX.get(payload.grantId);
      if (!members) {
        members = new Set();
        GRANT_INDEX.set(payload.grantId, members);
      }
      members.add(`${this.name}\u0000${id}`);
    }
    if (payload.uid && this.name === 'Session') UID_INDEX.set(payload.uid, id);
    if (payload.userCode) USER_CODE_INDEX.set(`${this.name}:${payload.userCode}`, id);
  }

  async find(id) {
    return this.#live(id)?.payload;
  }

  async findByUid(uid) {
    const id = UID_INDEX.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = USER_CODE_INDEX.get(`${this.name}:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const entry = this.#live(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const entry = this.store.get(id);
    this.store.delete(id);
    if (entry?.payload.uid && UID_INDEX.get(entry.payload.uid) === id) {
      UID_INDEX.delete(entry.payload.uid);
    }
  }

  async revokeByGrantId(grantId) {
    const members = GRANT_INDEX.get(grantId);
    if (!members) return;
    for (const member of members) {
      const [name, id] = member.split('\u0000');
      storeFor(name).delete(id);
    }
    GRANT_INDEX.delete(grantId);
  }
}

function sweep() {
  const now = Date.now();
  for (const store of STORES.values()) {
    for (const [id, entry] of store) {
      if (entry.expiresAt <= now) store.delete(id);
    }
  }
  for (const [grantId, members] of GRANT_INDEX) {
    for (const member of members) {
      const [name, id] = member.split('\u0000');
      if (!storeFor(name).has(id)) members.delete(member);
    }
    if (!members.size) GRANT_INDEX.delete(grantId);
  }
}
setInterval(sweep, 60_000).unref();

// ---------------------------------------------------------------------------
// HTTP server first (so --port 0 can pick a free port), then the provider,
// whose issuer must include that port.
// ---------------------------------------------------------------------------

const server = http.createServer();
server.keepAliveTimeout = 5_000;
const sockets = new Set();
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
});
try {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
} catch (err) {
  console.error(`server.mjs: cannot listen on 127.0.0.1:${opts.port}: ${err.code ?? err.message}`);
  process.exit(1);
}
const { port } = server.address();
const ISSUER = `http://127.0.0.1:${port}`;

// oidc-provider 9 warns (once, at import) that it wants a Node 22+ LTS; it
// runs fine on Node 20.20 (every API it uses exists there). Hide only that line.
const realWarn = console.warn;
console.warn = (...args) => {
  if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
  realWarn(...args);
};
const { default: Provider, errors } = await import('oidc-provider');
console.warn = realWarn;

const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ format: 'jwk' });

const configuration = {
  adapter: MapAdapter,
  jwks: { keys: [{ ...signingKey, kid: 'steward-test-rs256', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },

  // Only client_credentials is meant to be used; 'code' stays supported so that
  // registrations of authorization_code clients are accepted (no login UI).
  responseTypes: ['code'],
  scopes: [...SCOPES],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
  enabledJWA: {
    // Asymmetric algorithms accepted in private_key_jwt client assertions
    // (SMART Backend Services requires RS384 and ES384).
    clientAuthSigningAlgValues: [
      'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512',
    ],
  },
  // Defaults applied to registrations (and RFC 7592 PUTs) that omit these.
  clientDefaults: {
    grant_types: ['client_credentials'],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  },

  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Any authenticated (confidential) client may introspect any token.
      allowedPolicy: async () => true,
    },
    revocation: {
      enabled: true,
      // Normal: a client may revoke only its own tokens (RFC 7009 §2.1).
      // --broken-revocation: the full endpoint runs (client authentication,
      // parameter checks, 200 with an empty body) but nothing is revoked.
      allowedPolicy: async (ctx, client, token) => {
        if (opts.brokenRevocation) return false;
        if (token.clientId !== client.clientId) {
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
    registration: {
      enabled: true,
      initialAccessToken: false, // open registration
      issueRegistrationAccessToken: true,
    },
    registrationManagement: {
      enabled: true,
      rotateRegistrationAccessToken: opts.rotateRat,
    },
    resourceIndicators: {
      enabled: true,
      // No `resource` parameter: no audience, opaque token.
      defaultResource: async () => undefined,
      useGrantedResource: async () => false,
      // Any absolute `resource` URI is accepted and still yields an OPAQUE
      // (introspectable, revocable) token with that audience.
      getResourceServerInfo: async (ctx, resourceIndicator) => ({
        scope: (ctx.oidc.params.scope ?? '').split(' ').filter((s) => SCOPES.has(s)).join(' '),
        audience: resourceIndicator,
        accessTokenFormat: 'opaque',
        accessTokenTTL: opts.tokenTtl,
      }),
    },
  },

  ttl: {
    AccessToken: opts.tokenTtl,
    ClientCredentials: opts.tokenTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 86400,
    Interaction: 600,
    Session: 3600,
    Grant: 86400,
    DeviceCode: 600,
    BackchannelAuthenticationRequest: 600,
    PreAuthorizedCode: 600,
  },

  // Loopback test server: allow CORS from anywhere.
  clientBasedCORS: () => true,
  // No end users exist; present only so no default "you must change this" hook runs.
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
};

const provider = new Provider(ISSUER, configuration);

provider.on('server_error', (ctx, err) => {
  console.error(`server_error ${ctx.method} ${ctx.path}:`, err);
});

// ---------------------------------------------------------------------------
// Extra routes, ahead of the provider's own: SMART configuration and a tiny
// FHIR endpoint whose bearer tokens are checked against the provider's store.
// ---------------------------------------------------------------------------

function smartCapabilities(authMethods, scopes) {
  const caps = [];
  if (authMethods.some((m) => m === 'client_secret_basic' || m === 'client_secret_post')) {
    caps.push('client-confidential-symmetric');
  }
  if (authMethods.includes('private_key_jwt')) caps.push('client-confidential-asymmetric');
  if (scopes.includes('system/*.read')) caps.push('permission-v1');
  if (scopes.includes('system/*.rs')) caps.push('permission-v2');
  return caps;
}

// Builds /.well-known/smart-configuration from the provider's own discovery
// document (rendered by the provider for the same request).
function smartConfigurationFrom(discovery) {
  const pick = [
    'issuer', 'jwks_uri', 'token_endpoint', 'revocation_endpoint', 'introspection_endpoint',
    'registration_endpoint', 'grant_types_supported', 'token_endpoint_auth_methods_supported',
    'token_endpoint_auth_signing_alg_values_supported', 'scopes_supported',
  ];
  const out = {};
  for (const key of pick) if (discovery[key] !== undefined) out[key] = discovery[key];
  out.capabilities = smartCapabilities(
    discovery.token_endpoint_auth_methods_supported ?? [],
    discovery.scopes_supported ?? [],
  );
  return out;
}

async function findActiveToken(value) {
  if (typeof value !== 'string' || !value) return undefined;
  for (const Model of [provider.ClientCredentials, provider.AccessToken]) {
    const token = await Model.find(value);
    if (!token || !token.isValid) continue;
    if (token.isSenderConstrained()) continue; // DPoP/mTLS-bound: not a plain Bearer token
    if (token.grantId) {
      const grant = await provider.Grant.find(token.grantId);
      if (!grant || grant.isExpired) continue;
    }
    return token;
  }
  return undefined;
}

function fhirJson(ctx, status, body) {
  ctx.status = status;
  ctx.body = JSON.stringify(body);
  ctx.type = 'application/fhir+json';
}

function operationOutcome(code, diagnostics) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics }],
  };
}

const CAPABILITY_STATEMENT = {
  resourceType: 'CapabilityStatement',
  status: 'active',
  date: '2024-01-01',
  kind: 'instance',
  fhirVersion: '4.0.1',
  format: ['json'],
  implementation: { description: 'Steward test FHIR endpoint', url: `${ISSUER}/fhir` },
  rest: [{
    mode: 'server',
    security: {
      service: [{
        coding: [{
          system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
          code: 'SMART-on-FHIR',
        }],
      }],
    },
  }],
};

provider.use(async (ctx, next) => {
  if (ctx.path === '/.well-known/smart-configuration') {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      return;
    }
    ctx.path = '/.well-known/openid-configuration';
    await next();
    if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      ctx.body = smartConfigurationFrom(ctx.body);
    }
    return;
  }

  if (ctx.path !== '/fhir' && !ctx.path.startsWith('/fhir/')) {
    await next();
    return;
  }

  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    ctx.set('Allow', 'GET, HEAD');
    fhirJson(ctx, 405, operationOutcome('not-supported', 'only GET is supported'));
    return;
  }

  const rest = ctx.path.slice('/fhir'.length);
  if (rest === '/metadata') {
    fhirJson(ctx, 200, CAPABILITY_STATEMENT);
    return;
  }

  const match = /^\/([A-Z][A-Za-z]{0,63})(?:\/([A-Za-z0-9\-.]{1,64}))?\/?$/.exec(rest);
  if (!match) {
    fhirJson(ctx, 404, operationOutcome('not-found', `no route for ${ctx.path}`));
    return;
  }

  const realm = `${ISSUER}/fhir`;
  const authorization = ctx.get('authorization');
  const bearer = /^Bearer +([^\s]+)\s*$/i.exec(authorization);
  if (!bearer) {
    // RFC 6750 §3.1: no error code when the request carries no credentials.
    ctx.set('WWW-Authenticate', authorization
      ? `Bearer realm="${realm}", error="invalid_request", error_description="malformed Authorization header"`
      : `Bearer realm="${realm}"`);
    fhirJson(ctx, 401, operationOutcome('login', 'bearer token required'));
    return;
  }

  const token = await findActiveToken(bearer[1]);
  if (!token) {
    ctx.set('WWW-Authenticate',
      `Bearer realm="${realm}", error="invalid_token", error_description="token is unknown, expired or revoked"`);
    fhirJson(ctx, 401, operationOutcome('login', 'invalid token'));
    return;
  }

  if (match[2]) {
    fhirJson(ctx, 404, operationOutcome('not-found', `${match[1]}/${match[2]} not found`));
    return;
  }
  fhirJson(ctx, 200, { resourceType: 'Bundle', type: 'searchset', total: 0 });
});

server.on('request', provider.callback());

// ---------------------------------------------------------------------------
// Ready; stop cleanly on SIGTERM/SIGINT.
// ---------------------------------------------------------------------------

process.stdout.write(`listening ${ISSUER}\n`);

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  for (const socket of sockets) socket.destroy();
  setTimeout(() => process.exit(0), 2_000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
