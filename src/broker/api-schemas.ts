import { Type, type Static } from '@sinclair/typebox';

/**
 * JSON schemas of the REST API: request validation and the OpenAPI document come from these,
 * so what is documented is what is enforced. Every request object is closed
 * (`additionalProperties: false`): a misspelt field is an error naming it, not silently ignored.
 */

const closed = { additionalProperties: false } as const;

export const Name = Type.String({ pattern: '^[a-z0-9]{1,32}$', description: 'lower-case letters and digits, at most 32' });
export const HostName = Type.String({ pattern: '^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$', description: 'node host name' });
export const ProfileName = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' });
export const Id = Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' });

export const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) }),
});

export const Items = <T extends ReturnType<typeof Type.Object>>(item: T) => Type.Object({ items: Type.Array(item) });

export const UserView = Type.Object({
  id: Type.String(),
  login: Type.String(),
  role: Type.Union([Type.Literal('admin'), Type.Literal('user')]),
  maxGears: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
});

export const Login = Type.String({ pattern: '^[a-z0-9][a-z0-9._@-]{0,63}$', description: 'lower-case, at most 64 characters' });

export const CreateUserBody = Type.Object(
  {
    login: Login,
    role: Type.Optional(Type.Union([Type.Literal('admin'), Type.Literal('user')])),
    maxGears: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  },
  closed,
);
export type CreateUserBody = Static<typeof CreateUserBody>;

export const CreateTokenBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 10 * 365 * 86400 })),
  },
  closed,
);

export const TokenView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
});

export const CreateDomainBody = Type.Object({ name: Name }, closed);
export const DomainView = Type.Object({ id: Type.String(), name: Type.String(), owner: Type.String(), createdAt: Type.String() });

const SourceIdPattern = { pattern: '^[A-Za-z0-9-]{1,64}$' } as const;

export const DeployAppBody = Type.Object(
  { source: Type.String({ ...SourceIdPattern, description: 'id of a source the caller uploaded (POST /sources)' }) },
  closed,
);

/** An uploaded source as the API shows it; the archive itself only goes to node agents. */
export const SourceView = Type.Object({ id: Type.String(), size: Type.Integer(), sha256: Type.String() });

export const ScaleRange = Type.Object(
  { min: Type.Integer({ minimum: 1, maximum: 10_000 }), max: Type.Integer({ minimum: 1, maximum: 10_000 }) },
  closed,
);

export const CreateAppBody = Type.Object(
  {
    name: Name,
    cartridge: Type.String({ minLength: 1, maxLength: 64 }),
    gears: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'a fixed gear count' })),
    scale: Type.Optional(ScaleRange),
    gearProfile: Type.Optional(ProfileName),
    source: Type.Optional(Type.String({ ...SourceIdPattern, description: 'id of a source the caller uploaded (POST /sources)' })),
  },
  closed,
);
export type CreateAppBody = Static<typeof CreateAppBody>;

export const ScaleAppBody = Type.Object(
  {
    gears: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    min: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    max: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  },
  closed,
);
export type ScaleAppBody = Static<typeof ScaleAppBody>;

export const GearView = Type.Object({
  id: Type.String(),
  uid: Type.Integer(),
  node: Type.String(),
  district: Type.String(),
  desiredState: Type.String(),
  observedState: Type.String(),
  endpoint: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});

export const AppView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  domain: Type.String(),
  url: Type.String(),
  cartridge: Type.String(),
  gearProfile: Type.String(),
  scale: Type.Object({ min: Type.Integer(), max: Type.Integer() }),
  desiredState: Type.String(),
  restartGeneration: Type.Integer(),
  /** null: no source uploaded, the cartridge's built-in app runs. `version` counts deploys. */
  source: Type.Union([Type.Object({ id: Type.String(), version: Type.Integer(), size: Type.Integer() }), Type.Null()]),
  createdAt: Type.String(),
  gears: Type.Array(GearView),
});

export const CreateDistrictBody = Type.Object(
  {
    name: Name,
    gearProfile: Type.Optional(ProfileName),
    firstUid: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_000_000_000 })),
    maxCapacity: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  },
  closed,
);
export type CreateDistrictBody = Static<typeof CreateDistrictBody>;

export const DistrictCapacityBody = Type.Object(
  { add: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })), remove: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })) },
  closed,
);

export const AddNodeBody = Type.Object({ node: HostName }, closed);

export const DistrictView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  gearProfile: Type.String(),
  firstUid: Type.Integer(),
  maxCapacity: Type.Integer(),
  availableUids: Type.Integer(),
  createdAt: Type.String(),
  nodes: Type.Array(Type.Object({ name: Type.String(), active: Type.Boolean(), state: Type.String() })),
});

export const GearCountsSchema = Type.Object(
  {
    started: Type.Integer({ minimum: 0 }),
    idle: Type.Integer({ minimum: 0 }),
    stopped: Type.Integer({ minimum: 0 }),
    unknown: Type.Integer({ minimum: 0 }),
  },
  closed,
);

export const NodeView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  gearProfile: Type.String(),
  district: Type.Union([Type.String(), Type.Null()]),
  state: Type.String(),
  maxActiveGears: Type.Integer(),
  placedActiveGears: Type.Integer(),
  gears: GearCountsSchema,
  activeUsagePct: Type.Number(),
  endpoint: Type.Union([Type.String(), Type.Null()]),
  scaleEventId: Type.Union([Type.String(), Type.Null()]),
  lastHeartbeatAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});

export const RegisterNodeBody = Type.Object(
  {
    name: HostName,
    gearProfile: ProfileName,
    maxActiveGears: Type.Integer({ minimum: 1, maximum: 100_000 }),
    endpoint: Type.Optional(Type.String({ format: 'uri', maxLength: 512 })),
    district: Type.Optional(Name),
    scaleEventId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,128}$' })),
  },
  closed,
);
export type RegisterNodeBody = Static<typeof RegisterNodeBody>;

export const HeartbeatBody = Type.Object(
  { maxActiveGears: Type.Integer({ minimum: 1, maximum: 100_000 }), gears: GearCountsSchema },
  closed,
);

export const ReportGearBody = Type.Object(
  {
    observedState: Type.Union([
      Type.Literal('new'),
      Type.Literal('started'),
      Type.Literal('idle'),
      Type.Literal('stopped'),
      Type.Literal('unknown'),
      Type.Literal('failed'),
    ]),
    endpoint: Type.Union([Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]-]{1,255}:[0-9]{1,5}$' }), Type.Null()]),
  },
  closed,
);

export const EventView = Type.Object({
  id: Type.Integer(),
  time: Type.String(),
  kind: Type.String(),
  severity: Type.String(),
  subject: Type.String(),
  message: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
});

export const EventsQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    kind: Type.Optional(Type.String({ pattern: '^[a-z0-9._-]{1,64}$' })),
    follow: Type.Optional(Type.Boolean()),
    newest: Type.Optional(Type.Boolean({ description: 'the newest `limit` events (still oldest first) instead of the first ones after `after`' })),
  },
  closed,
);
