// An offline Wechaty puppet-service server for leaksentry's tests: the real gRPC server of npm
// `wechaty-puppet-service` (TLS off, token auth on) around the mock puppet of
// `wechaty-puppet-mock`, driven by JSON lines.
//
//   node tests/harness/puppet_server.js --port PORT --token TOKEN
//
// One client at a time, as a real puppet service (a second client's stop()/start() would log
// the first one's bot out).
//
// stdin, one JSON object a line; every command may carry "req", echoed in its answer:
//   {"cmd": "contact", "id", "name"}                       create or rename a contact
//   {"cmd": "room", "id", "topic", "owner", "admins": [], "members": []}   create or replace
//   {"cmd": "login", "id", "name", "qrcode"?}               the bot's account; logged in as soon
//       as a client stream is open (and again after every client stop()/start()); with
//       "qrcode", a scan event (status Waiting) goes out first
//   {"cmd": "message", "type", "from", "room"?, "to"?, "text"?, "mentions"?, "name"?,
//       "data"? (base64), "url"?, "title"?, "description"?, "recalled"?, "id"?, "timestamp"?}
//       a message from a contact in a room (or, without "room", to the bot); "type" is one of
//       text image file video voice emoticon url recalled chat_history contact location
//       mini_program; images and files carry their bytes in "data" (or a remote "url");
//       answered with the new message id
//   {"cmd": "topic", "room", "topic", "by"}      a member renames the group (a room-topic event)
//   {"cmd": "drop"}     close every client stream and restart the gRPC server on the same port
//   {"cmd": "stop"}     exit
// stdout, one JSON object a line:
//   {"event": "ready", "port"}                 listening
//   {"event": "ok", "req", ...}                a command done ("id" for a message)
//   {"event": "error", "req"?, "message"}      a command failed (or an unexpected error)
//   {"event": "connected"}                     a client opened its event stream
//   {"event": "login", "id"}                   the bot is logged in for that stream
//   {"event": "sent", "id", "kind": "text"|"file"|"url"|"contact", "room", "to", "text",
//       "mentions", "name", "size"}            something the bot sent ("room" or "to" is null)

import { randomUUID } from 'node:crypto'
import readline from 'node:readline'
import { parseArgs } from 'node:util'

import { FileBox } from 'file-box'
import * as PUPPET from 'wechaty-puppet'
import { mock, PuppetMock } from 'wechaty-puppet-mock'
import { PuppetServer } from 'wechaty-puppet-service'

const MESSAGE_TYPES = {
  text: PUPPET.types.Message.Text,
  image: PUPPET.types.Message.Image,
  file: PUPPET.types.Message.Attachment,
  video: PUPPET.types.Message.Video,
  voice: PUPPET.types.Message.Audio,
  emoticon: PUPPET.types.Message.Emoticon,
  url: PUPPET.types.Message.Url,
  recalled: PUPPET.types.Message.Recalled,
  chat_history: PUPPET.types.Message.ChatHistory,
  contact: PUPPET.types.Message.Contact,
  location: PUPPET.types.Message.Location,
  mini_program: PUPPET.types.Message.MiniProgram,
}

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n')

// Ids unique across harness processes too (several may run in one test session).
const RUN = randomUUID().slice(0, 8)
let sequence = 0
const nextId = (prefix) => `${prefix}-${RUN}-${(++sequence).toString(36)}`

/** The mock puppet, answering with what the harness injected instead of canned fakes. */
class HarnessPuppet extends PuppetMock {
  constructor (options) {
    super(options)
    this.attachments = new Map() // message id -> FileBox of the injected bytes
    this.urlLinks = new Map() // message id -> UrlLinkPayload
  }

  // The stock mock returns a fake QR code image and drops file names; hand out the real file.
  async messageImage (messageId, _imageType) {
    return this.attachmentOf(messageId)
  }

  async messageFile (messageId) {
    return this.attachmentOf(messageId)
  }

  attachmentOf (messageId) {
    const fileBox = this.attachments.get(messageId)
    if (!fileBox) {
      throw new Error(`message ${messageId} carries no file`)
    }
    return fileBox
  }

  async messageUrl (messageId) {
    const payload = this.urlLinks.get(messageId)
    if (!payload) {
      throw new Error(`message ${messageId} is not a URL card`)
    }
    return payload
  }

  // What the bot sends: reported on stdout, then echoed back as a message from the bot, as
  // WeChat does (the bot sees its own messages).
  async messageSendText (conversationId, text, mentionIdList = []) {
    return this.sent(conversationId, PUPPET.types.Message.Text, {
      kind: 'text',
      text,
      mentions: mentionIdList || [],
    })
  }

  async messageSendFile (conversationId, fileBox) {
    return this.sent(conversationId, PUPPET.types.Message.Attachment, {
      kind: 'file',
      name: fileBox.name,
      size: fileBox.size,
    })
  }

  async messageSendUrl (conversationId, urlLinkPayload) {
    return this.sent(conversationId, PUPPET.types.Message.Url, {
      kind: 'url',
      text: urlLinkPayload.title,
      url: urlLinkPayload.url,
    })
  }

  async messageSendContact (conversationId, contactId) {
    return this.sent(conversationId, PUPPET.types.Message.Contact, {
      kind: 'contact',
      text: contactId,
    })
  }

  sent (conversationId, type, details) {
    if (!this.isLoggedIn) {
      throw new Error('not logged in')
    }
    const inRoom = this.mocker.cacheRoomPayload.has(conversationId)
    if (!inRoom && !this.mocker.cacheContactPayload.has(conversationId)) {
      throw new Error(`no room or contact ${conversationId}`)
    }
    const id = nextId('sent')
    emit({
      event: 'sent',
      id,
      room: inRoom ? conversationId : null,
      to: inRoom ? null : conversationId,
      text: '',
      mentions: [],
      ...details,
    })
    injectPayload(this, {
      id,
      type,
      talkerId: this.currentUserId,
      text: details.kind === 'text' ? details.text : undefined,
      mentionIdList: details.mentions,
      ...(inRoom ? { roomId: conversationId } : { listenerId: conversationId }),
    })
    return id
  }
}

const mocker = new mock.Mocker()
const puppet = new HarnessPuppet({ mocker })

/** The bot's account; logged in on every client connection once set. */
let bot = null

function injectPayload (target, payload) {
  const full = { timestamp: Date.now(), ...payload }
  mocker.MessageMock.create(full)
  target.emit('message', { messageId: full.id })
}

/** True while a client holds the event stream (the server subscribes to the puppet then). */
const clientListening = () => puppet.listenerCount('message') > 0

let loginTimer = null

/** Logs the bot in as soon as a client listens: the client calls stop() then start() when it
 * connects, which logs the puppet out, and events are dropped while no stream is open. */
function scheduleLogin () {
  clearInterval(loginTimer)
  loginTimer = setInterval(() => {
    if (!bot || puppet.isLoggedIn || !clientListening()) {
      return
    }
    clearInterval(loginTimer)
    emit({ event: 'connected' })
    const login = () => {
      if (!puppet.isLoggedIn && clientListening()) {
        puppet.login(bot.id)
        emit({ event: 'login', id: bot.id })
      }
    }
    if (bot.qrcode) {
      puppet.emit('scan', { qrcode: bot.qrcode, status: PUPPET.types.ScanStatus.Waiting })
      setTimeout(login, 200)
    } else {
      login()
    }
  }, 20)
}

// Runs on every puppet start (the mocker's "environment" hook), so a reconnecting client gets
// its login again; contacts and rooms live in the mocker and survive stop()/start().
mocker.use(() => {
  scheduleLogin()
  return () => clearInterval(loginTimer)
})

function upsertContact ({ id, name }) {
  requireFields({ id }, 'contact')
  const payload = {
    id,
    name: name ?? id,
    alias: undefined,
    avatar: '',
    friend: true,
    gender: PUPPET.types.ContactGender.Unknown,
    phone: [],
    type: PUPPET.types.Contact.Individual,
  }
  if (mocker.cacheContactPayload.has(id)) {
    mocker.contactPayload(id, payload)
    mocker.ContactMock.load(id).payload = payload
    puppet.cache.contact.delete(id)
  } else {
    mocker.createContact(payload)
  }
}

function upsertRoom ({ id, topic, owner, admins = [], members = [] }) {
  requireFields({ id }, 'room')
  const memberIdList = [...new Set([...(owner ? [owner] : []), ...admins, ...members])]
  for (const contactId of memberIdList) {
    if (!mocker.cacheContactPayload.has(contactId)) {
      throw new Error(`room ${id}: no contact ${contactId} (create it first)`)
    }
  }
  const payload = {
    id,
    topic: topic ?? '',
    avatar: '',
    ownerId: owner,
    adminIdList: admins,
    memberIdList,
  }
  if (mocker.cacheRoomPayload.has(id)) {
    mocker.roomPayload(id, payload)
    mocker.RoomMock.load(id).payload = payload
    puppet.cache.room.delete(id)
    puppet.cache.roomMember.clear()
  } else {
    mocker.createRoom(payload)
  }
}

function renameRoom ({ room, topic, by }) {
  requireFields({ room, topic, by }, 'topic')
  if (!puppet.isLoggedIn || !clientListening()) {
    throw new Error('rename after the bot has logged in and a client listens')
  }
  const roomMock = mocker.RoomMock.load(room)
  const payload = { ...mocker.roomPayload(room), topic }
  puppet.cache.room.delete(room)
  roomMock.topic(topic).by(mocker.ContactMock.load(by)) // emits room-topic
  mocker.roomPayload(room, payload)
  roomMock.payload = payload
}

function login ({ id, name, qrcode }) {
  requireFields({ id }, 'login')
  if (!mocker.cacheContactPayload.has(id)) {
    upsertContact({ id, name: name ?? id })
  }
  bot = { id, qrcode }
  if (puppet.isLoggedIn) {
    return
  }
  scheduleLogin()
}

function injectMessage (command) {
  const { type, from, room, text, mentions = [], name, data, url } = command
  requireFields({ type, from }, 'message')
  if (!puppet.isLoggedIn || !clientListening()) {
    throw new Error('inject after the bot has logged in and a client listens')
  }
  const messageType = MESSAGE_TYPES[type]
  if (messageType === undefined) {
    throw new Error(`unknown message type ${type}`)
  }
  if (!mocker.cacheContactPayload.has(from)) {
    throw new Error(`no contact ${from}`)
  }
  if (room && !mocker.cacheRoomPayload.has(room)) {
    throw new Error(`no room ${room}`)
  }
  const id = command.id ?? nextId('msg')
  const payload = {
    id,
    type: messageType,
    talkerId: from,
    text,
    mentionIdList: mentions,
    timestamp: command.timestamp ?? Date.now(),
    ...(room ? { roomId: room } : { listenerId: command.to ?? bot.id }),
  }
  if (data !== undefined || (url && type !== 'url')) {
    // Base64 boxes up to 20 KB travel inline; bigger ones become UUID boxes on the wire.
    const fileBox = data !== undefined
      ? FileBox.fromBase64(data, name ?? 'file.dat')
      : FileBox.fromUrl(url, { name: name ?? 'file.dat' })
    puppet.attachments.set(id, fileBox)
    payload.filename = name
  }
  if (type === 'url') {
    requireFields({ url }, 'url message')
    puppet.urlLinks.set(id, {
      url,
      title: command.title ?? '',
      description: command.description ?? '',
      thumbnailUrl: command.thumbnail ?? '',
    })
  }
  if (type === 'recalled') {
    requireFields({ recalled: command.recalled }, 'recalled message')
    // WeChat puts the id of the recalled message in the text of the recall notice.
    payload.text = command.recalled
  }
  injectPayload(puppet, payload)
  return { id }
}

function requireFields (fields, what) {
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || value === null || value === '') {
      throw new Error(`${what}: "${key}" is required`)
    }
  }
}

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    token: { type: 'string' },
  },
})
if (!args.port || !args.token) {
  process.stderr.write('usage: node puppet_server.js --port PORT --token TOKEN\n')
  process.exit(2)
}

const serverOptions = {
  endpoint: `127.0.0.1:${args.port}`,
  puppet,
  token: args.token,
  tls: { disable: true },
}
let server = new PuppetServer(serverOptions)

async function dropClients () {
  // A fresh server on the same port: open streams end, the client has to reconnect.
  await server.stop()
  await puppet.logout('harness drop')
  server = new PuppetServer(serverOptions)
  await server.start()
}

async function shutdown (code) {
  clearInterval(loginTimer)
  try {
    await server.stop()
  } finally {
    process.exit(code) // runs the FileBox URN registry's exit hook: its temp folder goes
  }
}

const COMMANDS = {
  contact: upsertContact,
  room: upsertRoom,
  login,
  message: injectMessage,
  topic: renameRoom,
  drop: dropClients,
  stop: () => shutdown(0),
}

async function handle (line) {
  if (!line.trim()) {
    return
  }
  let command
  try {
    command = JSON.parse(line)
  } catch (e) {
    emit({ event: 'error', message: `not JSON: ${e.message}` })
    return
  }
  const run = COMMANDS[command.cmd]
  try {
    if (!run) {
      throw new Error(`unknown command ${command.cmd}`)
    }
    const result = await run(command)
    emit({ event: 'ok', req: command.req, ...(result ?? {}) })
  } catch (e) {
    emit({ event: 'error', req: command.req, message: e.message })
  }
}

process.on('SIGTERM', () => shutdown(0))
process.on('SIGINT', () => shutdown(0))
process.on('unhandledRejection', (e) => emit({ event: 'error', message: String(e?.stack ?? e) }))

await server.start()
emit({ event: 'ready', port: Number(args.port) })

// Commands run one after another, in order.
let queue = Promise.resolve()
readline.createInterface({ input: process.stdin })
  .on('line', (line) => { queue = queue.then(() => handle(line)) })
  .on('close', () => { queue.then(() => shutdown(0)) })
