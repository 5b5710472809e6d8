# corpus: entry=DuelingDQN
# corpus: init=in_channels=4, n_actions=6
# corpus: input=x=2,4,84,84 rand
# Nature-DQN convolutional torso on 84x84 Atari frames with a dueling head.
import torch
import torch.nn as nn
import torch.nn.functional as F


class DuelingDQN(nn.Module):
    def __init__(self, in_channels=4, n_actions=18):
        super(DuelingDQN, self).__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=8, stride=4)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=4, stride=2)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3, stride=1)
        self.fc_value = nn.Linear(7 * 7 * 64, 256)
        self.fc_adv = nn.Linear(7 * 7 * 64, 256)
        self.value = nn.Linear(256, 1)
        self.advantage = nn.Linear(256, n_actions)

    def forward(self, x):
        x = x.float() / 255
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = x.view(x.size(0), -1)
        v = self.value(F.relu(self.fc_value(x)))
        a = self.advantage(F.relu(self.fc_adv(x)))
        q = v + a - a.mean(dim=1, keepdim=True)
        greedy = q.argmax(dim=1)
        return q, greedy
